// The studio's reviews card: the creator's own seller rating, and the reviews buyers reported,
// which the creator hides (the words go, the stars stay) or keeps. Both are audited on the
// server (GET /api/v1/sellers/{id}/reviews/audit).

import { api, API_BASE, getToken, getUser } from './api.js';
import { $, el } from './dom.js';
import { errorSentence, formatWhen, setText, t, tn } from './i18n.js';
import { renderSellerRating, starsEl } from './seller-rating.js';

export function setupStudioReviews() {
  const card = $('studio-reviews');
  const list = $('reported-reviews');
  let rating = null;
  let reported = [];

  function me() {
    const user = getToken() ? getUser() : null;
    return user && user.id;
  }

  function render() {
    renderSellerRating($('studio-seller-rating'), rating, { showEmpty: true, headingLevel: 'h3' });
    $('reported-heading').hidden = !reported.length;
    list.replaceChildren(...reported.map(reportedItem));
  }

  function reportedItem(review) {
    const name = review.reviewer && review.reviewer.id !== 'deleted' ? review.reviewer.name : t('reviews.deleted_reviewer');
    const status = el('p', { class: 'notice', role: 'status' });
    const hide = el('button', { type: 'button', class: 'danger', text: t('reviews.studio.hide') });
    const keep = el('button', { type: 'button', text: t('reviews.studio.keep') });
    hide.addEventListener('click', () => judge(review, true, status));
    keep.addEventListener('click', () => judge(review, false, status));
    return el('li', { class: 'review reported-review', dataset: { reviewId: review.id } },
      el('p', { class: 'review-head' },
        starsEl(review.product_rating, { label: t('reviews.stars_label', { average: review.product_rating }) }),
        el('span', { class: 'review-name', text: name }),
        el('span', { class: 'review-when', text: `${formatWhen(review.created_at)} · ${tn('reviews.studio.reports', review.reports || 0)}` })),
      el('p', { class: 'review-text', text: review.text }),
      el('div', { class: 'review-actions' }, hide, keep),
      status);
  }

  async function judge(review, hidden, status) {
    try {
      await api(`${API_BASE}/reviews/${encodeURIComponent(review.id)}/hide`, { method: 'POST', body: { hidden } });
      reported = reported.filter((r) => r.id !== review.id);
      render();
      setText($('reviews-status'), hidden ? 'reviews.studio.hidden' : 'reviews.studio.kept');
    } catch (err) {
      status.textContent = errorSentence(err.code, {}, err.detail);
    }
  }

  async function load() {
    const id = me();
    card.hidden = !id;
    if (!id) return;
    try {
      const seller = encodeURIComponent(id);
      const [found, queue] = await Promise.all([
        api(`${API_BASE}/sellers/${seller}/rating`, { auth: false }),
        api(`${API_BASE}/sellers/${seller}/reviews?state=reported`),
      ]);
      rating = found;
      reported = queue.reviews || [];
      render();
    } catch (err) {
      $('reviews-status').textContent = errorSentence(err.code, {}, err.detail);
    }
  }

  window.addEventListener('lc:session', load);
  window.addEventListener('lc:languagechange', render);
  load();
  return { load };
}
