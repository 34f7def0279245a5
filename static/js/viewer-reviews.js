// Reviews on the viewer page: the product card's stars, the reviews in its Details sheet, and
// the buyer's orders with "Rate" per product (docs/reviews.md).
//
// The card's rating is read over HTTP when the pinned product changes (GET
// /api/v1/products/{id}/reviews), not carried by room events: a rating moves when someone
// rates, not when the show does, and one read per pin is cheap. The page follows the card's
// data-product-id, which the shop sets, so nothing else has to tell this module.

import { api, API_BASE, getToken, getUser } from './api.js';
import { $, closeOnBackdrop, el } from './dom.js';
import { errorSentence, formatPrice, formatWhen, setText, t, tn } from './i18n.js';
import { formatAverage, starsEl } from './seller-rating.js';

const SHOWN_IN_SHEET = 5;
const TEXT_MAX = 1000;

export function setupViewerReviews({ openSignIn = () => {} } = {}) {
  const card = $('product-card');
  const ratingLine = $('product-rating');
  const ordersButton = $('orders-button');
  const ordersSheet = $('orders-sheet');
  const rateSheet = $('rate-sheet');
  const rateForm = $('rate-form');
  let page = null; // the pinned product's rating and newest reviews
  let asked = ''; // the product whose reviews were asked for last
  let rating = null; // what the rate sheet is about: {order, line, review}

  // ---- the product card and its details -------------------------------------------------

  function renderCard() {
    const count = page && page.rating ? page.rating.count : 0;
    ratingLine.hidden = !count;
    ratingLine.replaceChildren();
    if (!count) return;
    const average = page.rating.average;
    ratingLine.append(
      starsEl(average, { label: tn('reviews.card_label', count, { average: formatAverage(average) }) }),
      el('span', { class: 'product-rating-average', 'aria-hidden': 'true', text: formatAverage(average) }),
      el('span', { class: 'product-rating-count', 'aria-hidden': 'true', text: `(${count})` }),
    );
  }

  async function load(productId) {
    asked = productId;
    if (!productId) {
      page = null;
      renderCard();
      return;
    }
    try {
      const found = await api(`${API_BASE}/products/${encodeURIComponent(productId)}/reviews`, { auth: false });
      if (asked !== productId) return; // another product was pinned meanwhile
      page = found;
    } catch {
      if (asked === productId) page = null;
    }
    renderCard();
    renderSheetReviews();
  }

  function reviewItem(review) {
    const name = review.reviewer && review.reviewer.id !== 'deleted' && review.reviewer.name
      ? review.reviewer.name : t('reviews.deleted_reviewer');
    const item = el('li', { class: 'review', dataset: { reviewId: review.id } },
      el('p', { class: 'review-head' },
        starsEl(review.product_rating, { label: t('reviews.stars_label', { average: review.product_rating }) }),
        el('span', { class: 'review-name', text: name }),
        el('time', { class: 'review-when', dateTime: new Date(review.created_at).toISOString(), text: formatWhen(review.created_at) })));
    if (review.hidden) item.append(el('p', { class: 'review-text review-hidden', text: t('reviews.hidden_text') }));
    else if (review.text) item.append(el('p', { class: 'review-text', text: review.text }));
    const me = getToken() ? getUser() : null;
    if (me && me.id !== (review.reviewer && review.reviewer.id) && !review.hidden && review.text) {
      const report = el('button', { type: 'button', class: 'link-button review-report', text: t('reviews.report') });
      report.addEventListener('click', () => reportReview(review, report));
      item.append(report);
    }
    return item;
  }

  async function reportReview(review, button) {
    button.disabled = true;
    try {
      await api(`${API_BASE}/reviews/${encodeURIComponent(review.id)}/report`, { method: 'POST' });
      button.textContent = t('reviews.reported');
    } catch (err) {
      button.disabled = false;
      button.textContent = errorSentence(err.code, {}, err.detail);
    }
  }

  function renderSheetReviews() {
    const section = $('product-sheet-reviews');
    const list = $('product-sheet-review-list');
    const product = card.dataset.productId || '';
    const here = page && page.product_id === product ? page : null;
    list.replaceChildren();
    if (!here || !here.rating.count) {
      section.hidden = true;
      return;
    }
    $('product-sheet-rating').replaceChildren(
      starsEl(here.rating.average),
      el('span', { text: ` ${formatAverage(here.rating.average)} · ${tn('reviews.count', here.rating.count)}` }),
    );
    for (const review of here.reviews.slice(0, SHOWN_IN_SHEET)) list.append(reviewItem(review));
    section.hidden = false;
  }

  new MutationObserver(() => {
    const id = card.dataset.productId || '';
    if (id !== asked) load(id);
  }).observe(card, { attributes: true, attributeFilter: ['data-product-id'] });
  $('product-details').addEventListener('click', () => {
    renderSheetReviews();
    const id = card.dataset.productId || '';
    if (id) load(id); // fresh words while the sheet is open
  });
  if (card.dataset.productId) load(card.dataset.productId);

  // ---- the buyer's orders ----------------------------------------------------------------

  function renderOrdersButton() {
    ordersButton.hidden = !getToken();
  }

  // The buyer's own reviews by '<order id> <product id>': one request, whatever the orders.
  async function myReviews() {
    try {
      const found = await api(`${API_BASE}/reviews/mine`);
      return new Map((found.reviews || []).map((r) => [`${r.order_id} ${r.product_id}`, r]));
    } catch {
      return new Map();
    }
  }

  async function openOrders() {
    const list = $('orders-list');
    const status = $('orders-status');
    list.replaceChildren();
    setText(status, 'reviews.orders.loading');
    if (!ordersSheet.open) ordersSheet.showModal();
    let orders = [];
    let reviews = new Map();
    try {
      [orders, reviews] = await Promise.all([
        api(`${API_BASE}/orders`).then((found) => found.orders || []),
        myReviews(),
      ]);
    } catch (err) {
      status.textContent = errorSentence(err.code, {}, err.detail);
      return;
    }
    if (!orders.length) {
      setText(status, 'reviews.orders.empty');
      return;
    }
    status.textContent = '';
    for (const order of orders) {
      for (const line of order.lines || []) {
        list.append(orderItem(order, line, reviews.get(`${order.id} ${line.product_id}`) || null));
      }
    }
  }

  function stateText(state) {
    const key = `reviews.order_state.${state}`;
    return t(key) === key ? String(state) : t(key);
  }

  function orderItem(order, line, review) {
    const item = el('li', { class: 'order-line', dataset: { orderId: order.id, productId: line.product_id } },
      el('div', { class: 'order-line-text' },
        el('p', { class: 'order-line-title', text: line.title || line.product_id }),
        el('p', { class: 'order-line-meta', text: `${formatWhen(order.created_at)} · ${formatPrice(order.amount, order.currency)} · ${stateText(order.state)}` })));
    if (review) {
      item.append(el('p', { class: 'order-line-rated' },
        starsEl(review.product_rating, { label: t('reviews.your_rating', { stars: review.product_rating }) })));
    }
    if (order.state === 'paid') {
      const rate = el('button', { type: 'button', class: review ? 'secondary rate-button' : 'primary rate-button',
        text: t(review ? 'reviews.edit' : 'reviews.rate'),
        'aria-label': t(review ? 'reviews.edit_named' : 'reviews.rate_named', { title: line.title || '' }) });
      rate.addEventListener('click', () => openRate(order, line, review));
      item.append(rate);
    }
    return item;
  }

  // ---- the rate sheet --------------------------------------------------------------------

  function setStars(name, value) {
    for (const input of rateForm.querySelectorAll(`input[name="${name}"]`)) input.checked = Number(input.value) === value;
  }

  function openRate(order, line, review) {
    rating = { order, line, review };
    rateForm.reset();
    $('rate-product').textContent = line.title || '';
    setStars('product_rating', review ? review.product_rating : 0);
    setStars('seller_rating', review ? review.seller_rating : 0);
    $('rate-text').value = review ? review.text || '' : '';
    $('rate-error').textContent = '';
    $('rate-delete').hidden = !review;
    countText();
    rateSheet.showModal();
    const first = rateForm.querySelector('input[name="product_rating"]:checked') || rateForm.querySelector('input[name="product_rating"]');
    first.focus();
  }

  function countText() {
    const left = TEXT_MAX - $('rate-text').value.length;
    $('rate-text-count').textContent = tn('reviews.chars_left', left);
  }

  function chosen(name) {
    const input = rateForm.querySelector(`input[name="${name}"]:checked`);
    return input ? Number(input.value) : 0;
  }

  function reviewUrl() {
    return `${API_BASE}/orders/${encodeURIComponent(rating.order.id)}/reviews/${encodeURIComponent(rating.line.product_id)}`;
  }

  async function save(event) {
    event.preventDefault();
    const error = $('rate-error');
    const body = { product_rating: chosen('product_rating'), seller_rating: chosen('seller_rating'), text: $('rate-text').value };
    if (!body.product_rating || !body.seller_rating) {
      setText(error, 'reviews.rate.pick_both');
      return;
    }
    const submit = $('rate-submit');
    submit.disabled = true;
    rateForm.setAttribute('aria-busy', 'true');
    try {
      await api(reviewUrl(), { method: 'PUT', body });
      rateSheet.close();
      setText($('orders-status'), 'reviews.rate.thanks');
      if (rating.line.product_id === (card.dataset.productId || '')) load(rating.line.product_id);
      await refreshOrders();
    } catch (err) {
      error.textContent = errorSentence(err.code, {}, err.detail);
    } finally {
      submit.disabled = false;
      rateForm.removeAttribute('aria-busy');
    }
  }

  async function remove() {
    try {
      await api(reviewUrl(), { method: 'DELETE' });
      rateSheet.close();
      setText($('orders-status'), 'reviews.rate.deleted');
      if (rating.line.product_id === (card.dataset.productId || '')) load(rating.line.product_id);
      await refreshOrders();
    } catch (err) {
      $('rate-error').textContent = errorSentence(err.code, {}, err.detail);
    }
  }

  async function refreshOrders() {
    const said = $('orders-status').textContent;
    const key = $('orders-status').getAttribute('data-i18n');
    await openOrders();
    if (key) setText($('orders-status'), key);
    else $('orders-status').textContent = said;
  }

  ordersButton.addEventListener('click', () => (getToken() ? openOrders() : openSignIn()));
  $('orders-close').addEventListener('click', () => ordersSheet.close());
  closeOnBackdrop(ordersSheet);
  rateForm.addEventListener('submit', save);
  $('rate-cancel').addEventListener('click', () => rateSheet.close());
  $('rate-close').addEventListener('click', () => rateSheet.close());
  $('rate-delete').addEventListener('click', remove);
  $('rate-text').addEventListener('input', countText);
  rateForm.addEventListener('change', () => {
    if (chosen('product_rating') && chosen('seller_rating')) $('rate-error').textContent = '';
  });
  closeOnBackdrop(rateSheet);
  window.addEventListener('lc:session', renderOrdersButton);
  window.addEventListener('lc:languagechange', () => {
    renderCard();
    renderSheetReviews();
    if (ordersSheet.open) openOrders();
  });
  renderOrdersButton();

  return { refresh: () => load(card.dataset.productId || '') };
}
