// The studio's auction run sheet: queue lots from the host's products, start them one after
// another, watch the live lot's bids and time, cancel, see each result, and offer a lapsed lot
// to the runner-up (docs/protocol.md, "Auctions"). The lots, bids and lapsed orders are the
// chosen show's room state (auction-state.js); commands go over the studio's socket.

import { $, el, option, setStatus } from './dom.js';
import {
  errorSentence, formatClock, formatNumber, formatPrice, language, parseMajor, setText, t,
} from './i18n.js';
import { activeLot, endedLots, queuedLots } from './auction-state.js';
import { initialState } from './room-state.js';

const TICK_MS = 250;
const MAX_MINOR = 10 ** 12;

// `onStock()`: a lot took a unit of a product, or gave one back (its stock moved).
export function setupStudioAuction({ getClient, getRoom, getProducts, onStock }) {
  let ticker = null;
  let lastProduct = null;
  const drawn = new WeakMap(); // list -> what it shows, as last drawn

  // Lists are drawn again only when what they show changed (not at every bid): a keyboard
  // user's focus stays on their button.
  function changed(list, what) {
    const key = JSON.stringify([language(), what]);
    if (drawn.get(list) === key) return false;
    drawn.set(list, key);
    return true;
  }

  const roomState = () => { const client = getClient(); return client ? client.roomState : initialState(); };
  const auctions = () => roomState().auctions;
  const now = () => { const client = getClient(); return client ? client.serverNow() : Date.now(); };
  const price = (minor, lot) => formatPrice(minor, lot.currency);

  function status(text, isError = false) {
    setStatus($('run-status'), text, isError);
  }

  function refusalText(err) {
    if (err.code === 'disconnected' || err.code === 'timeout') return t('chat.not_sent');
    if (err.code === 'room_not_live') return t('studio.sale.error.not_live');
    const key = `auction.studio.error.${err.code}`;
    if (t(key) !== key) return t(key);
    return errorSentence(err.code, { detail: err.message || '' }, err.message || err.code || '');
  }

  async function command(type, fields) {
    const client = getClient();
    if (!client) return null;
    try {
      return await client.request(type, fields, { quiet: true });
    } catch (err) {
      status(refusalText(err), true);
      return null;
    }
  }

  // ---- the form --------------------------------------------------------------------------

  function fillProducts() {
    const select = $('lot-product');
    const previous = select.value || lastProduct;
    const r = getRoom();
    const usable = getProducts().filter((p) => (!r || p.currency === r.currency) && Number(p.stock) > 0);
    select.replaceChildren(...usable.map((p) => option(p.id, `${p.title} · ${formatPrice(p.price, p.currency)}`)));
    if (previous && usable.some((p) => p.id === previous)) select.value = previous;
    const currency = r ? r.currency : (usable[0] && usable[0].currency);
    if (currency) {
      setText($('lot-start-label'), 'auction.studio.starting_bid_in', { currency });
      setText($('lot-reserve-label'), 'auction.studio.reserve_in', { currency });
    }
  }

  function whole(id, low, high) {
    const text = $(id).value.trim();
    if (!/^\d+$/.test(text)) return null;
    const n = Number(text);
    return n >= low && n <= high ? n : null;
  }

  async function queueLot(event) {
    event.preventDefault();
    const r = getRoom();
    if (!getClient() || !r) return;
    const form = $('lot-form');
    for (const node of form.querySelectorAll('[aria-invalid]')) node.removeAttribute('aria-invalid');
    const fail = (id, key, args) => {
      status(t(key, args), true);
      $(id).setAttribute('aria-invalid', 'true');
      $(id).focus();
    };
    const product = getProducts().find((p) => p.id === $('lot-product').value);
    if (!product) return fail('lot-product', 'studio.sale.error.product');
    const start = parseMajor($('lot-start').value, product.currency);
    if (start == null || start < 1 || start > MAX_MINOR) return fail('lot-start', 'studio.error.price');
    const duration = whole('lot-duration', 5, 300);
    if (duration == null) return fail('lot-duration', 'studio.sale.error.range', { min: 5, max: 300 });
    const extend = whole('lot-extend', 1, 60);
    if (extend == null) return fail('lot-extend', 'studio.sale.error.range', { min: 1, max: 60 });
    const fields = {
      product_id: product.id, starting_bid: start, duration_s: duration, mode: $('lot-mode').value, extend_s: extend,
    };
    const reserveText = $('lot-reserve').value.trim();
    if (reserveText) {
      const reserve = parseMajor(reserveText, product.currency);
      if (reserve == null || reserve < start || reserve > MAX_MINOR) {
        return fail('lot-reserve', 'auction.studio.error.reserve', { amount: formatPrice(start, product.currency) });
      }
      fields.reserve_price = reserve;
    }
    const button = $('lot-queue');
    button.disabled = true;
    status('');
    lastProduct = product.id;
    const reply = await command('auction.queue', fields);
    button.disabled = false;
    if (!reply) return;
    if (reply.auction) getClient().apply({ type: 'auction.queued', auction: reply.auction });
    if (onStock) onStock();
    $('lot-reserve').value = '';
    status(t('auction.studio.queued', { title: product.title }));
    render();
  }

  // ---- the lots --------------------------------------------------------------------------

  async function start(lot) {
    status('');
    const reply = await command('auction.start', { auction_id: lot.id });
    if (reply && reply.auction) getClient().apply({ type: 'auction.started', auction: reply.auction });
    render();
  }

  async function cancel(lot) {
    status('');
    if (await command('auction.cancel', { auction_id: lot.id })) status(t('auction.studio.cancelled', { title: lot.title }));
  }

  async function secondChance(lot) {
    status('');
    if (await command('auction.second_chance', { auction_id: lot.id })) {
      getClient().apply({ type: 'auction.offered', auction_id: lot.id });
      status(t('auction.studio.offered', { title: lot.title }));
      render();
    }
  }

  function button(text, label, className, run) {
    const node = el('button', { type: 'button', class: className, text, 'aria-label': label });
    node.addEventListener('click', run);
    return node;
  }

  function lotMeta(lot) {
    const mode = lot.mode === 'sudden_death' ? t('auction.studio.mode.sudden_death') : t('auction.studio.mode.standard');
    return t('auction.studio.lot_meta', {
      amount: price(lot.starting_bid, lot), seconds: formatNumber(lot.duration_s), mode,
    });
  }

  function resultText(lot) {
    const result = lot.result || {};
    switch (result.reason) {
      case 'sold':
        return t('auction.studio.result.sold', { name: (result.winner && result.winner.name) || '', amount: price(result.amount, lot) });
      case 'no_bids': return t('auction.studio.result.no_bids');
      case 'reserve_not_met': return t('auction.studio.result.reserve_not_met');
      default: return t('auction.studio.result.cancelled');
    }
  }

  function paidOrder(lot) {
    const orderId = lot.result && lot.result.order_id;
    return roomState().orders.find((o) => o.state !== 'refunded'
      && ((orderId && o.id === orderId) || (o.auction_id != null && String(o.auction_id) === String(lot.id)))) || null;
  }

  function renderActive() {
    const lot = activeLot(auctions());
    $('run-active').hidden = !lot;
    if (!lot) return;
    $('run-active').dataset.auctionId = lot.id;
    $('run-active-title').textContent = lot.title || '';
    const bids = Number(lot.bids || 0);
    $('run-active-price').textContent = price(bids ? lot.current_bid : lot.starting_bid, lot);
    if (bids && lot.high_bidder) setText($('run-active-leader'), 'auction.leader', { name: lot.high_bidder.name || '' });
    else setText($('run-active-leader'), 'auction.no_bids_yet');
    $('run-active-cancel').setAttribute('aria-label', t('auction.studio.cancel_named', { title: lot.title || '' }));
    const feed = auctions().feed[lot.id] || [];
    $('run-feed').replaceChildren(...feed.map((b) => el(
      'li',
      { class: b.voided ? 'voided' : null },
      el('span', { class: 'run-feed-name', text: (b.bidder && b.bidder.name) || '' }),
      el('span', { class: 'run-feed-amount', text: price(b.amount, lot) }),
    )));
    renderTime();
  }

  function renderTime() {
    const lot = activeLot(auctions());
    if (!lot) return;
    const left = Number(lot.ends_at || 0) - now();
    const text = left > 0 ? formatClock(left) : t('auction.closing');
    const node = $('run-active-time');
    if (node.textContent !== text) node.textContent = text;
  }

  function renderQueue() {
    const lots = queuedLots(auctions());
    const live = getRoom() && getRoom().state === 'live';
    const busy = Boolean(activeLot(auctions()));
    $('run-queue-empty').hidden = lots.length > 0;
    if (!changed($('run-queue'), [live, busy, lots.map((l) => [l.id, l.title, l.starting_bid, l.duration_s, l.mode])])) return;
    $('run-queue').replaceChildren(...lots.map((lot) => el(
      'li',
      { class: 'run-row queued', dataset: { auctionId: lot.id } },
      el('div', {}, el('span', { class: 'run-title', text: lot.title || '' }), el('span', { class: 'run-meta', text: lotMeta(lot) })),
      Object.assign(button(t('auction.studio.start'), t('auction.studio.start_named', { title: lot.title || '' }), 'primary small', () => start(lot)),
        { disabled: !live || busy }),
      button(t('auction.studio.cancel'), t('auction.studio.cancel_named', { title: lot.title || '' }), 'small', () => cancel(lot)),
    )));
  }

  function renderResults() {
    const lots = endedLots(auctions());
    $('run-results-head').hidden = lots.length === 0;
    const shown = lots.map((lot) => [lot.id, lot.title, lot.result, paidOrder(lot)?.id ?? null, auctions().lapsed[lot.id] ?? null]);
    if (!changed($('run-results'), shown)) return;
    $('run-results').replaceChildren(...lots.map((lot) => {
      const reason = (lot.result && lot.result.reason) || 'cancelled';
      const paid = reason === 'sold' ? paidOrder(lot) : null;
      const lapsed = auctions().lapsed[lot.id];
      const li = el(
        'li',
        { class: `run-row ended ${reason}${paid ? ' paid' : ''}`, dataset: { auctionId: lot.id } },
        el('div', {},
          el('span', { class: 'run-title', text: lot.title || '' }),
          el('span', { class: 'run-meta', text: resultText(lot) }),
          paid ? el('span', { class: 'run-paid', text: t('auction.studio.paid', { amount: formatPrice(paid.amount, paid.currency) }) }) : null,
          lapsed ? el('span', { class: 'run-meta run-lapsed', text: lapsed.offered ? t('auction.studio.offered_short') : t('auction.studio.lapsed') }) : null),
      );
      if (lapsed && !lapsed.offered) {
        li.append(button(t('auction.studio.second_chance'), t('auction.studio.second_chance_named', { title: lot.title || '' }), 'small',
          () => secondChance(lot)));
      }
      return li;
    }));
  }

  function render() {
    fillProducts();
    renderActive();
    renderQueue();
    renderResults();
    const live = getRoom() && getRoom().state !== 'ended';
    $('lot-queue').disabled = !live || !getClient() || !$('lot-product').value;
    const running = Boolean(activeLot(auctions()));
    if (running && !ticker) ticker = setInterval(renderTime, TICK_MS);
    if (!running && ticker) {
      clearInterval(ticker);
      ticker = null;
    }
  }

  $('lot-form').addEventListener('submit', queueLot);
  $('run-active-cancel').addEventListener('click', () => {
    const lot = activeLot(auctions());
    if (lot) cancel(lot);
  });
  window.addEventListener('lc:languagechange', render);

  return {
    render,
    roomChanged() {
      status('');
      render();
    },
    attach(client, mine) {
      // The client has folded each event into its roomState before these run.
      const when = (type, run) => client.addEventListener(type, (event) => { if (mine()) run(event.detail); });
      for (const type of ['welcome', 'auction.queued', 'auction.started', 'auction.bid', 'auction.voided', 'order.lapsed', 'order.created', 'orders', 'room.state']) {
        when(type, render);
      }
      when('auction.ended', () => {
        render();
        if (onStock) onStock(); // the unit of an unsold lot went back to stock
      });
    },
  };
}
