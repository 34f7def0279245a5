// A seller's rating as a block any page can show: the creator's page (section#seller-rating)
// and the studio, for the creator themself. `rating` is GET /api/v1/sellers/{id}/rating:
// {average, count, distribution {"1": n, ..., "5": n}}. The section is filled afresh on each
// call and shown; with no ratings it stays hidden unless `showEmpty` (the studio says so).

import { el } from './dom.js';
import { formatNumber, language, t, tn } from './i18n.js';

// Stars for an average: five outlined, with five filled ones over them clipped to the
// average's share, so 4.3 shows four stars and a third. The words are for screen readers.
export function starsEl(average, { label = null, className = 'stars' } = {}) {
  const share = Math.max(0, Math.min(5, Number(average) || 0)) / 5;
  return el('span', { class: className, role: 'img', 'aria-label': label || t('reviews.stars_label', { average: formatAverage(average) }) },
    el('span', { class: 'stars-fill', 'aria-hidden': 'true', style: `width: ${(share * 100).toFixed(1)}%` }, '★★★★★'),
    el('span', { class: 'stars-empty', 'aria-hidden': 'true' }, '★★★★★'));
}

export function formatAverage(average) {
  const format = new Intl.NumberFormat(language(), { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  return format.format(Math.round((Number(average) || 0) * 10) / 10);
}

export function renderSellerRating(section, rating, { showEmpty = false, headingLevel = 'h2' } = {}) {
  const count = (rating && rating.count) || 0;
  section.replaceChildren();
  section.classList.add('seller-rating');
  if (!count && !showEmpty) {
    section.hidden = true;
    return;
  }
  const headingId = `${section.id || 'seller-rating'}-heading`;
  section.setAttribute('aria-labelledby', headingId);
  section.append(el(headingLevel, { id: headingId, class: 'seller-rating-heading', text: t('reviews.seller.heading') }));
  if (!count) {
    section.append(el('p', { class: 'empty', text: t('reviews.seller.none') }));
    section.hidden = false;
    return;
  }
  section.append(el('p', { class: 'seller-rating-summary' },
    starsEl(rating.average, { className: 'stars stars-large' }),
    el('span', { class: 'seller-rating-average', text: formatAverage(rating.average) }),
    el('span', { class: 'seller-rating-count', text: tn('reviews.count', count) })));
  const bars = el('ul', { class: 'rating-bars', 'aria-label': t('reviews.seller.distribution') });
  const distribution = rating.distribution || {};
  for (const stars of [5, 4, 3, 2, 1]) {
    const n = Number(distribution[String(stars)] || 0);
    const share = count ? n / count : 0;
    bars.append(el('li', { class: 'rating-bar' },
      el('span', { class: 'rating-bar-label', 'aria-hidden': 'true', text: `${stars}★` }),
      el('span', { class: 'rating-bar-track', 'aria-hidden': 'true' },
        el('span', { class: 'rating-bar-fill', style: `width: ${(share * 100).toFixed(1)}%` })),
      el('span', { class: 'rating-bar-count', 'aria-hidden': 'true', text: formatNumber(n) }),
      el('span', { class: 'visually-hidden', text: tn('reviews.seller.bar', n, { stars }) })));
  }
  section.append(bars);
  section.hidden = false;
}
