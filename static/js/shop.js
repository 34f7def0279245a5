// Buying on the viewer page: the pinned product card, Buy, the hold timer and the checkout
// sheet (docs/protocol.md, "Selling").
//
// The server's clock decides sales and holds: countdowns run against RoomClient.serverNow()
// (welcome.server_time plus local elapsed time), never against what the video seems to show.
//
// The pinned product, the sales and the room come from the room's state (`getState`,
// room-state.js); this module keeps only the buyer's own standing: their hold, what they
// bought, their place on a waitlist.

import { api, API_BASE } from './api.js';
import { errorText } from './auth.js';
import { $, clearText, closeOnBackdrop, option } from './dom.js';
import { formatClock, formatPrice, formatTime, language, setText, t, tn } from './i18n.js';

const TICK_MS = 250;
// Shipping destinations offered in the country list; names come from Intl.DisplayNames.
const COUNTRIES = [
  'AT', 'BE', 'BG', 'CA', 'CH', 'CY', 'CZ', 'DE', 'DK', 'EE', 'ES', 'FI', 'FR', 'GB', 'GR',
  'HR', 'HU', 'IE', 'IS', 'IT', 'LT', 'LU', 'LV', 'MT', 'NL', 'NO', 'PL', 'PT', 'RO', 'SE',
  'SI', 'SK', 'US',
];
const COUNTRY_FOR_LANGUAGE = {
  nb: 'NO', nn: 'NO', no: 'NO', sv: 'SE', nl: 'NL', lv: 'LV', da: 'DK', de: 'DE', fi: 'FI',
  fr: 'FR', it: 'IT', es: 'ES', pl: 'PL', et: 'EE', lt: 'LT', is: 'IS', pt: 'PT', cs: 'CZ',
};
// A room in English says little about where it ships; its currency may say more.
const COUNTRY_FOR_CURRENCY = {
  NOK: 'NO', SEK: 'SE', DKK: 'DK', ISK: 'IS', GBP: 'GB', CHF: 'CH', PLN: 'PL', CZK: 'CZ',
  HUF: 'HU', RON: 'RO', BGN: 'BG', USD: 'US', CAD: 'CA',
};

// Where a show's buyers most likely live, from the room: its locale's region ("nb-NO"), its
// language ("sv"), its currency (an English show in NOK ships to Norway), else GB for a room
// in English. The viewer's browser only decides before the room is known: a new or headless
// browser says en-US whatever the show.
function countryGuess(room, pageLanguage, browserLocale) {
  const known = (code) => (code && COUNTRIES.includes(code.toUpperCase()) ? code.toUpperCase() : null);
  if (room && room.locale) {
    const [lang, ...rest] = String(room.locale).split(/[-_]/);
    const region = rest.find((part) => /^[A-Za-z]{2}$/.test(part));
    return known(region)
      || known(COUNTRY_FOR_LANGUAGE[lang.toLowerCase()])
      || known(COUNTRY_FOR_CURRENCY[String(room.currency || '').toUpperCase()])
      || 'GB';
  }
  return known(COUNTRY_FOR_LANGUAGE[pageLanguage]) || known(String(browserLocale || '').split('-')[1]) || 'GB';
}

// A fresh idempotency key. crypto.randomUUID needs a secure context; getRandomValues does not.
export function randomKey() {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function setupShop({ getClient, getState, signedIn, openSignIn }) {
  const shop = {
    hold: null, // our reservation while it is held
    holdSale: null, // the sale it belongs to (kept when the sale leaves the list)
    order: null, // the last order placed from this page
    bought: new Map(), // sale id -> units we bought (welcome.you.bought, then our own orders)
    counted: new Set(), // ids of our orders already in `bought`
    waitlist: null, // {sale_id, position}
    notice: null, // {key, args, tone}
    busy: false,
    due: null, // {order, title, image_url, onPaid}: a won lot's order being paid (auction.js)
  };
  let reserveKey = null; // {saleId, key}: kept while a Buy press has no answer, so a retry gets the same hold
  let attempt = null; // {key, payload, unknown}: a checkout whose outcome we did not hear
  let ticker = null;
  let replaying = false; // an ended show's replay decides the card (viewer-replay.js)
  let replayed = null; // the product pinned at this moment of the replay
  let shownPinned = null; // the product card as last drawn

  const sales = () => getState().sales;
  const pinned = () => (replaying ? replayed : getState().pinned);
  const roomEnded = () => replaying || Boolean(getState().room && getState().room.state === 'ended');
  // What this page learnt itself goes into the room's state like an event (room-state.js).
  const fold = (event) => {
    const client = getClient();
    if (client) client.apply(event);
  };

  const card = $('product-card');
  const sheet = $('checkout-sheet');
  const form = $('checkout-form');
  const errorEl = $('checkout-error');
  const payButton = $('checkout-pay');

  const now = () => {
    const client = getClient();
    return client ? client.serverNow() : Date.now();
  };

  // ---- which sale the card shows ---------------------------------------------------------

  function newest(list) {
    return list.sort((a, b) => (b.starts_at ?? 0) - (a.starts_at ?? 0))[0] || null;
  }

  function saleForCard() {
    if (shop.hold) return sales()[shop.hold.sale_id] || shop.holdSale;
    const all = Object.values(sales());
    const product = pinned();
    if (product) {
      const mine = all.filter((s) => s.product_id === product.id);
      return newest(mine.filter((s) => s.state === 'active')) || newest(mine);
    }
    return newest(all.filter((s) => s.state === 'active'));
  }

  function isActive(sale) {
    return Boolean(sale) && sale.state === 'active' && !roomEnded() && (sale.ends_at == null || sale.ends_at > now());
  }

  // ---- rendering -------------------------------------------------------------------------

  function notice(key, args, tone = 'info') {
    shop.notice = key ? { key, args, tone } : null;
    renderNotice();
  }

  function renderNotice() {
    const el = $('product-notice');
    el.classList.remove('error', 'ok');
    if (!shop.notice) {
      clearText(el);
      return;
    }
    if (shop.notice.tone !== 'info') el.classList.add(shop.notice.tone);
    setText(el, shop.notice.key, shop.notice.args);
  }

  function showImage(img, url) {
    if (!url) {
      img.hidden = true;
      img.removeAttribute('src');
      return;
    }
    if (img.getAttribute('src') !== url) {
      img.hidden = false;
      img.addEventListener('error', () => { img.hidden = true; }, { once: true });
      img.src = url;
    }
  }

  function unitsText(sale) {
    if (!sale) return '';
    if (sale.state === 'ended' || roomEnded()) {
      return sale.end_reason === 'sold_out' ? t('shop.sold_out') : t('shop.sale_ended');
    }
    if (Number(sale.available) <= 0) return t('shop.sold_out');
    return tn('shop.units_left', Number(sale.available));
  }

  function renderTimers() {
    const sale = saleForCard();
    const countdown = $('product-countdown');
    let text = '';
    if (sale && sale.state === 'active' && !roomEnded() && sale.ends_at != null) {
      const left = sale.ends_at - now();
      if (left > 0) text = t('shop.ends_in', { time: formatClock(left) });
      else text = t('shop.sale_ended');
    }
    if (countdown.textContent !== text) countdown.textContent = text;
    if (shop.hold) {
      const left = shop.hold.expires_at - now();
      const clock = formatClock(left);
      for (const el of [$('hold-timer'), $('checkout-hold-timer')]) {
        if (el.textContent !== clock) el.textContent = clock;
      }
      const urgent = left <= 30000;
      $('hold-box').classList.toggle('urgent', urgent);
      $('checkout-hold').classList.toggle('urgent', urgent);
      if (left <= 0) holdGone('hold_expired');
    }
    if (sale && sale.state === 'active' && sale.ends_at != null && sale.ends_at <= now()) {
      // Time is up by the server's clock; its sale.ended follows.
      fold({ type: 'sale.ended', sale_id: sale.id, reason: sale.end_reason || 'time_up' });
      render();
    }
  }

  function render() {
    // The hold's sale as the room knows it now; the copy stays when it leaves the room's list.
    if (shop.holdSale && sales()[shop.holdSale.id]) shop.holdSale = sales()[shop.holdSale.id];
    shownPinned = pinned();
    const sale = saleForCard();
    const product = shownPinned && (!sale || sale.product_id === shownPinned.id) ? shownPinned : null;
    const shown = product || sale;
    card.hidden = !shown && !shop.hold;
    if (card.hidden) {
      stopTicker();
      return;
    }
    card.dataset.productId = (product && product.id) || (sale && sale.product_id) || '';
    const title = (product && product.title) || (sale && sale.title) || '';
    $('product-title').textContent = title;
    showImage($('product-image'), (product && product.image_url) || (sale && sale.image_url) || '');

    const currency = (sale && sale.currency) || (product && product.currency);
    const price = sale ? sale.price : product && product.price;
    $('product-price').textContent = formatPrice(price, currency);
    const was = $('product-was');
    const discounted = sale && product && product.currency === sale.currency && product.price > sale.price;
    was.hidden = !discounted;
    if (discounted) {
      was.textContent = formatPrice(product.price, product.currency);
      was.setAttribute('aria-label', t('shop.was_price', { price: was.textContent }));
    }

    const units = $('product-units');
    units.textContent = unitsText(sale);
    units.classList.toggle('sold-out', Boolean(sale) && (Number(sale.available) <= 0 || sale.state === 'ended'));

    const active = isActive(sale);
    const holding = Boolean(shop.hold);
    const waiting = shop.waitlist && sale && shop.waitlist.sale_id === sale.id;
    // Bought up to the sale's limit: another Buy could only be refused.
    const mine = sale ? shop.bought.get(sale.id) || 0 : 0;
    const full = mine > 0 && mine >= Number(sale.per_user_limit ?? Infinity);
    $('hold-box').hidden = !holding;
    $('buy-button').hidden = holding || !active || full || Number(sale.available) <= 0;
    $('buy-button').disabled = shop.busy;
    $('waitlist-button').hidden = holding || !active || full || Number(sale.available) > 0 || Boolean(waiting);
    $('waitlist-button').disabled = shop.busy;
    $('bought-badge').hidden = holding || mine === 0 || !$('buy-button').hidden;
    card.dataset.state = holding ? 'held' : !sale ? 'pinned' : active ? (full ? 'bought' : Number(sale.available) > 0 ? 'on-sale' : 'sold-out') : 'ended';
    renderNotice();
    renderTimers();
    if (active || holding) startTicker();
    else stopTicker();
  }

  function startTicker() {
    if (!ticker) ticker = setInterval(renderTimers, TICK_MS);
  }

  function stopTicker() {
    clearInterval(ticker);
    ticker = null;
  }

  // ---- holds -----------------------------------------------------------------------------

  function startHold(reservation, sale) {
    shop.hold = reservation;
    shop.holdSale = sale || sales()[reservation.sale_id] || shop.holdSale;
    shop.waitlist = null;
    render();
  }

  // The hold is over without an order: expired, released by the server, or given back.
  function holdGone(reason) {
    if (!shop.hold) return;
    shop.hold = null;
    const key = reason === 'hold_released' ? 'shop.error.hold_released'
      : reason === 'released' ? 'shop.hold.released' : 'shop.error.hold_expired';
    notice(key, undefined, reason === 'released' ? 'info' : 'error');
    if (sheet.open && form.hidden === false && !shop.due) {
      errorEl.textContent = t(key);
      payButton.disabled = true;
      $('checkout-release').hidden = true;
    }
    render();
  }

  async function buy() {
    if (!signedIn()) {
      notice('shop.sign_in_to_buy');
      openSignIn();
      return;
    }
    const sale = saleForCard();
    const client = getClient();
    if (!sale || !client || shop.busy) return;
    shop.busy = true;
    render();
    // The same key only for a retry of the same sale's unanswered press.
    if (!reserveKey || reserveKey.saleId !== sale.id) reserveKey = { saleId: sale.id, key: randomKey() };
    try {
      const reply = await client.request('reserve', { sale_id: sale.id, quantity: 1, key: reserveKey.key }, { quiet: true });
      reserveKey = null;
      if (!reply.repeated) {
        // Counted at once; the next sale.stock brings the room's figures.
        const quantity = Number(reply.reservation.quantity || 1);
        const known = sales()[sale.id] || sale;
        fold({ type: 'sale.stock', sale_id: sale.id, available: Math.max(0, Number(known.available) - quantity) });
      }
      notice('shop.hold.started', { time: formatClock(reply.reservation.expires_at - now()) }, 'ok');
      startHold(reply.reservation, sale);
      openCheckout();
    } catch (err) {
      if (err.code === 'timeout' || err.code === 'disconnected') {
        notice('shop.error.not_sent', undefined, 'error'); // the same key next time: the same hold
      } else {
        reserveKey = null;
        refusal(err, sale);
      }
    } finally {
      shop.busy = false;
      render();
    }
  }

  function refusal(err, sale) {
    switch (err.code) {
      case 'sold_out':
        if (sale) fold({ type: 'sale.stock', sale_id: sale.id, available: 0 });
        notice('shop.error.sold_out', undefined, 'error');
        break;
      case 'limit_exceeded':
        notice('shop.error.limit_exceeded', { limit: sale ? sale.per_user_limit ?? 1 : 1 }, 'error');
        break;
      case 'sale_not_active':
      case 'not_found':
        if (sale) fold({ type: 'sale.ended', sale_id: sale.id });
        notice('shop.error.sale_not_active', undefined, 'error');
        break;
      case 'unauthorized':
        openSignIn();
        notice('shop.sign_in_to_buy');
        break;
      default:
        notice('error.generic_detail', { detail: errorText(err) }, 'error');
    }
  }

  async function joinWaitlist() {
    if (!signedIn()) {
      notice('shop.sign_in_to_buy');
      openSignIn();
      return;
    }
    const sale = saleForCard();
    const client = getClient();
    if (!sale || !client || shop.busy) return;
    shop.busy = true;
    render();
    try {
      const reply = await client.request('waitlist.join', { sale_id: sale.id, quantity: 1 }, { quiet: true });
      shop.waitlist = { sale_id: sale.id, position: reply.waitlist_position };
      notice('shop.waitlist.joined', { position: reply.waitlist_position ?? '?' }, 'ok');
    } catch (err) {
      if (err.code === 'conflict') notice('shop.error.waitlist_not_needed', undefined, 'error');
      else refusal(err, sale);
    } finally {
      shop.busy = false;
      render();
    }
  }

  async function release() {
    const client = getClient();
    const hold = shop.hold;
    if (!client || !hold) return;
    try {
      await client.request('release', { reservation_id: hold.id }, { quiet: true });
    } catch (err) {
      if (err.code === 'disconnected' || err.code === 'timeout') {
        errorEl.textContent = t('shop.error.not_sent');
        return;
      }
    }
    holdGone('released');
    if (sheet.open) sheet.close();
  }

  // ---- checkout --------------------------------------------------------------------------

  function fillCountries() {
    const select = $('ship-country');
    const previous = select.value;
    let names = null;
    try { names = new Intl.DisplayNames([language()], { type: 'region' }); } catch { names = null; }
    const options = COUNTRIES.map((code) => option(code, (names && names.of(code)) || code))
      .sort((a, b) => a.textContent.localeCompare(b.textContent, language()));
    select.replaceChildren(...options);
    // The buyer's own choice stays; a guess follows the room.
    select.value = select.dataset.chosen ? previous : countryGuess(getState().room, language(), navigator.language);
  }

  function renderSummary() {
    if (shop.due) {
      const { order, title, image_url: image } = shop.due;
      setText($('checkout-item'), 'shop.checkout.item', { quantity: 1, title: title || '' });
      const amount = formatPrice(order.amount, order.currency);
      setText($('checkout-total'), 'shop.checkout.total', { amount });
      $('checkout-payment').hidden = false;
      $('checkout-payment').disabled = false;
      setText(payButton, shop.due.payKey || 'shop.checkout.pay', { amount });
      if (shop.due.hint) setText($('checkout-item'), shop.due.hint, { title: title || '' });
      showImage($('checkout-image'), image || '');
      return;
    }
    const sale = shop.holdSale || saleForCard();
    if (!sale) return;
    const quantity = shop.hold ? shop.hold.quantity : 1;
    const product = pinned();
    setText($('checkout-item'), 'shop.checkout.item', { quantity, title: sale.title || (product && product.title) || '' });
    const total = formatPrice(sale.price * quantity, sale.currency);
    setText($('checkout-total'), 'shop.checkout.total', { amount: total });
    // A giveaway takes no card: the server confirms a price-0 order without a charge.
    const free = isFree(sale, quantity);
    const payment = $('checkout-payment');
    payment.hidden = free;
    payment.disabled = free;
    if (free) setText(payButton, 'shop.checkout.claim_free');
    else setText(payButton, 'shop.checkout.pay', { amount: total });
    showImage($('checkout-image'), sale.image_url || (product && product.image_url) || '');
  }

  function isFree(sale, quantity) {
    return Number(sale.price) * quantity === 0;
  }

  function openCheckout() {
    if (!shop.hold) return;
    shop.due = null;
    showForm();
  }

  // The checkout sheet with its form, for the hold or for a won lot's order (`shop.due`).
  function showForm() {
    $('checkout-done').hidden = true;
    form.hidden = false;
    $('checkout-hold').hidden = Boolean(shop.due);
    $('checkout-release').hidden = Boolean(shop.due);
    payButton.disabled = false;
    errorEl.textContent = '';
    renderSummary();
    renderTimers();
    if (!sheet.open) sheet.showModal();
    const firstEmpty = [...form.querySelectorAll('input[required]:enabled')].find((el) => !el.value.trim());
    (firstEmpty || $('card-number')).focus();
  }

  function invalid(el, key, args) {
    el.setAttribute('aria-invalid', 'true');
    errorEl.textContent = t(key, args);
    el.focus();
    return null;
  }

  function readForm() {
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    const value = (id) => $(id).value.trim();
    const labels = {
      'ship-name': 'shop.checkout.name', 'ship-line1': 'shop.checkout.line1',
      'ship-postal': 'shop.checkout.postal_code', 'ship-city': 'shop.checkout.city',
    };
    for (const [id, key] of Object.entries(labels)) {
      if (!value(id)) return invalid($(id), 'shop.error.required', { field: t(key) });
    }
    const address = {
      name: value('ship-name'),
      line1: value('ship-line1'),
      line2: value('ship-line2'),
      postal_code: value('ship-postal'),
      city: value('ship-city'),
      country: $('ship-country').value,
    };
    const sale = shop.holdSale || saleForCard();
    if (!shop.due && sale && isFree(sale, shop.hold ? shop.hold.quantity : 1)) return { address };
    const number = value('card-number').replace(/[\s-]/g, '');
    if (!/^\d{12,19}$/.test(number)) return invalid($('card-number'), 'shop.error.card_number');
    const month = Number(value('card-exp-month'));
    if (!/^\d{1,2}$/.test(value('card-exp-month')) || month < 1 || month > 12) {
      return invalid($('card-exp-month'), 'shop.error.exp_month');
    }
    const yearText = value('card-exp-year');
    if (!/^(\d{2}|\d{4})$/.test(yearText)) return invalid($('card-exp-year'), 'shop.error.exp_year');
    const cvc = value('card-cvc');
    if (!/^\d{3,4}$/.test(cvc)) return invalid($('card-cvc'), 'shop.error.cvc');
    return {
      address,
      payment: { card_number: number, exp_month: month, exp_year: Number(yearText), cvc },
    };
  }

  async function pay(event) {
    event.preventDefault();
    errorEl.textContent = '';
    if (shop.due) {
      payDue();
      return;
    }
    const hold = shop.hold;
    if (!hold) {
      errorEl.textContent = t('shop.error.hold_expired');
      return;
    }
    const body = readForm();
    if (!body) return;
    // One key per attempt; a retry of an attempt we never heard back from keeps its key, so it
    // cannot pay twice.
    const payload = JSON.stringify([hold.id, body]);
    const key = attempt && attempt.unknown && attempt.payload === payload ? attempt.key : randomKey();
    attempt = { key, payload, unknown: true };
    payButton.disabled = true;
    form.setAttribute('aria-busy', 'true');
    setText(payButton, 'shop.checkout.paying');
    try {
      const data = await api(`${API_BASE}/reservations/${encodeURIComponent(hold.id)}/checkout`, {
        method: 'POST', body, headers: { 'Idempotency-Key': key },
      });
      attempt = null;
      showDone(data.order, hold);
    } catch (err) {
      const status = Number(err.status || 0);
      if (status >= 400 && status < 500) attempt = null; // an answer: the next press is a new attempt
      checkoutFailed(err);
    } finally {
      form.removeAttribute('aria-busy');
      if (!form.hidden) {
        if (shop.hold) payButton.disabled = false;
        renderSummary();
      }
    }
  }

  // A won lot's order: POST /api/v1/orders/{id}/pay, keyed like a hold's checkout.
  async function payDue() {
    const due = shop.due;
    const body = readForm();
    if (!body) return;
    const payload = JSON.stringify([`${due.submit ? 'group' : 'order'}:${due.order.id}`, body]);
    const key = attempt && attempt.unknown && attempt.payload === payload ? attempt.key : randomKey();
    attempt = { key, payload, unknown: true };
    payButton.disabled = true;
    form.setAttribute('aria-busy', 'true');
    setText(payButton, 'shop.checkout.paying');
    try {
      // A group buy's join (viewer-groupbuy.js) posts where it says; its card tells the rest.
      const data = due.submit ? await due.submit(body, key) : await api(`${API_BASE}/orders/${encodeURIComponent(due.order.id)}/pay`, {
        method: 'POST', body, headers: { 'Idempotency-Key': key },
      });
      attempt = null;
      if (due.submit) {
        sheet.close();
        due.onPaid(data);
        return;
      }
      const order = (data && data.order) || data;
      showDone(order, null);
      if (due.onPaid) due.onPaid(order);
    } catch (err) {
      const status = Number(err.status || 0);
      if (status >= 400 && status < 500) attempt = null;
      checkoutFailed(err);
    } finally {
      form.removeAttribute('aria-busy');
      if (!form.hidden) {
        payButton.disabled = false;
        renderSummary();
      }
    }
  }

  function checkoutFailed(err) {
    switch (err.code) {
      case 'payment_declined':
        // A won lot is not held: it stays the buyer's to pay for until its order's pay_by.
        errorEl.textContent = shop.due && !shop.due.submit
          ? t('auction.error.payment_declined', { time: formatTime(shop.due.order.pay_by) })
          : t('shop.error.payment_declined');
        $('card-number').setAttribute('aria-invalid', 'true');
        $('card-number').focus();
        break;
      case 'group_buy_not_open':
      case 'sold_out':
      case 'already_joined':
        errorEl.textContent = t(`groupbuy.error.${err.code}`);
        payButton.disabled = true;
        break;
      case 'order_lapsed':
        errorEl.textContent = t('auction.error.order_lapsed');
        payButton.disabled = true;
        break;
      case 'hold_expired':
      case 'hold_released':
        holdGone(err.code);
        errorEl.textContent = t(`shop.error.${err.code}`);
        break;
      case 'unauthorized':
        errorEl.textContent = t('error.unauthorized');
        break;
      case 'network':
      case 'unavailable':
      case 'overloaded':
      case 'internal':
      case 'payment_failed':
        errorEl.textContent = t('shop.error.pay_retry');
        break;
      default:
        errorEl.textContent = errorText(err);
    }
  }

  function showDone(order, hold) {
    shop.order = order;
    if (hold && !shop.counted.has(order.id)) {
      shop.counted.add(order.id);
      shop.bought.set(hold.sale_id, (shop.bought.get(hold.sale_id) || 0) + Number(hold.quantity || 1));
    }
    const paidDue = Boolean(shop.due);
    if (!paidDue) shop.hold = null;
    $('card-number').value = '';
    $('card-cvc').value = '';
    form.hidden = true;
    $('checkout-hold').hidden = true;
    const done = $('checkout-done');
    done.hidden = false;
    sheet.scrollTop = 0; // the sheet scrolled down to Pay; the confirmation reads from its top
    $('order-id').textContent = order.id;
    $('order-amount').textContent = formatPrice(order.amount, order.currency);
    const payment = order.payment || {};
    $('order-card').textContent = payment.last4 ? `${payment.brand || ''} •••• ${payment.last4}`.trim() : '';
    const ship = order.shipping || {};
    $('order-ship').textContent = [ship.name, ship.line1, [ship.postal_code, ship.city].filter(Boolean).join(' '), ship.country]
      .filter(Boolean).join(', ');
    setText($('checkout-total'), 'shop.checkout.total', { amount: formatPrice(order.amount, order.currency) });
    if (!paidDue) notice('shop.bought', { id: order.id }, 'ok');
    render();
    done.focus({ preventScroll: true });
  }

  // ---- wiring ----------------------------------------------------------------------------

  $('buy-button').addEventListener('click', buy);
  $('waitlist-button').addEventListener('click', joinWaitlist);
  $('checkout-open').addEventListener('click', openCheckout);
  $('checkout-close').addEventListener('click', () => sheet.close());
  $('checkout-done-close').addEventListener('click', () => sheet.close());
  $('checkout-release').addEventListener('click', release);
  form.addEventListener('submit', pay);
  closeOnBackdrop(sheet);
  sheet.addEventListener('close', () => {
    shop.due = null;
    const target = shop.hold ? $('checkout-open') : $('buy-button');
    if (!target.hidden && target.offsetParent) target.focus();
  });
  window.addEventListener('lc:languagechange', () => {
    fillCountries();
    render();
    if (sheet.open && !form.hidden) renderSummary();
  });
  window.addEventListener('lc:session', ({ detail }) => {
    if (!detail.token) {
      shop.hold = null;
      shop.waitlist = null;
      shop.bought = new Map();
      if (sheet.open) sheet.close();
    }
    if (shop.notice && shop.notice.key === 'shop.sign_in_to_buy') notice(null);
    render();
  });
  $('ship-country').addEventListener('change', (event) => { event.target.dataset.chosen = '1'; });
  fillCountries();

  // A signed-in buyer's welcome says which holds they have open and what they bought (a
  // resume's welcome, and a guest's, say nothing: what the page knows stays).
  // Our order, paid on this device or another (a phone and a laptop of the same buyer): the
  // other device's hold ends and its card follows what was bought.
  function ourOrder(order) {
    if (shop.counted.has(order.id)) return;
    shop.counted.add(order.id);
    const quantity = (order.lines || []).reduce((n, line) => n + Number(line.quantity || 0), 0) || 1;
    shop.bought.set(order.sale_id, (shop.bought.get(order.sale_id) || 0) + quantity);
    if (shop.hold && shop.hold.id === order.reservation_id && form.getAttribute('aria-busy') !== 'true') {
      if (sheet.open) {
        showDone(order, null);
        return;
      }
      shop.hold = null;
      notice('shop.bought', { id: order.id }, 'ok');
    }
    render();
  }

  function restoreMine(you) {
    if (you.bought && typeof you.bought === 'object') {
      shop.bought = new Map(Object.entries(you.bought).map(([id, n]) => [id, Number(n) || 0]));
    }
    if (!Array.isArray(you.holds)) return;
    const open = you.holds.filter((h) => h && h.state === 'held' && h.expires_at > now());
    const kept = shop.hold && open.find((h) => h.id === shop.hold.id);
    const hold = kept || open.find((h) => sales()[h.sale_id]) || open[0] || null;
    if (hold) {
      shop.hold = hold;
      shop.holdSale = sales()[hold.sale_id] || (kept ? shop.holdSale : null);
      shop.waitlist = null;
    } else {
      shop.hold = null; // it ended while we were away
    }
  }

  return {
    // Opens checkout for an order awaiting payment (a won lot): {order, title, image_url,
    // onPaid(order)}.
    payOrder(due) {
      if (!due || !due.order) return;
      shop.due = due;
      fillCountries();
      showForm();
    },
    // The product pinned at this moment of an ended show's replay (null: none). The sales
    // are over, so the card shows what was sold and for how much, without Buy.
    replay(product) {
      replaying = true;
      replayed = product || null;
      if (!shop.hold) notice(product ? 'shop.replay.featured' : null);
      render();
    },
    attach(client) {
      // The client has folded each event into the room's state before these run.
      client.addEventListener('welcome', () => {
        fillCountries();
        restoreMine(getState().you || {});
        render();
      });
      client.addEventListener('product.pinned', () => {
        const pinnedNow = getState().pinned;
        const changed = !shownPinned || !pinnedNow || shownPinned.id !== pinnedNow.id;
        if (changed && !shop.hold && shop.notice && shop.notice.tone === 'error') notice(null);
        render();
      });
      client.addEventListener('product.unpinned', render);
      client.addEventListener('sale.started', render);
      client.addEventListener('sale.stock', ({ detail }) => {
        if (sales()[detail.sale_id]) render();
      });
      client.addEventListener('sale.ended', ({ detail }) => {
        if (shop.waitlist && shop.waitlist.sale_id === detail.sale_id) shop.waitlist = null;
        render();
      });
      client.addEventListener('room.state', render);
      // Private: the studio's copy of every order, or ours alone.
      client.addEventListener('order.created', ({ detail }) => {
        const order = detail.order;
        const me = getState().you && getState().you.id;
        if (order && me && order.buyer && order.buyer.id === me) ourOrder(order);
      });
      // A private offer from the waitlist (a reply to our own reserve carries a ref).
      client.addEventListener('reservation', ({ detail }) => {
        if (detail.ref != null || !detail.reservation) return;
        const r = detail.reservation;
        if (r.state && r.state !== 'held') return;
        startHold(r, sales()[r.sale_id]);
        notice('shop.waitlist.offer', { time: formatClock(r.expires_at - now()) }, 'ok');
      });
    },
  };
}
