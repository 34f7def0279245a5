// The lot panel: the running auction lot as the room sees it (title, price, high bidder,
// time left by the server's clock, bids), the last lot's result, and for staff the lot's bid
// log with every bidder's max (GET /auctions/{id}/bids), read again as bids and voids arrive,
// at most about twice a second. "Void bids" asks for a confirmation and an optional reason,
// then sends `auction.void` through the console's act().

import { api, API_BASE } from './api.js';
import { remember, timeElement } from './console-common.js';
import {
  DELETED_ID, bidRows, foldLots, initialLots, lastLot, refreshDelay, runningLot, standingBidders,
  timeLeftMs,
} from './console-lots.js';
import { $, byData, closeOnBackdrop, el } from './dom.js';
import { formatClock, formatPrice, setText, t, tn } from './i18n.js';

const LOG_GAP_MS = 500;
const CLOCK_MS = 250;
const REASON_MAX = 200;

export function setupLotPanel({
  desk, act, describeError, serverNow, onPerson, onLogRead, onLotsKnown,
}) {
  let lots = initialLots();
  let shown = null; // the id of the lot whose log is on screen
  let rows = [];
  let standing = new Map();
  let logError = null;
  let lastRead = null;
  let readTimer = null;
  let reading = false;
  let again = false;
  let clockTimer = null;
  let voiding = null; // {auction, user: {id, name}, opener, fallback, row} while the sheet is open

  const dialog = $('void-sheet');
  const reason = $('void-reason');
  const voidError = $('void-error');

  // The lot the panel is about: the running one, else the last one that ended.
  const focusLot = () => runningLot(lots) || lastLot(lots);

  function renderClock() {
    const lot = runningLot(lots);
    const left = timeLeftMs(lot, serverNow());
    $('lot-time').textContent = left == null ? '' : formatClock(left);
    $('lot-time').classList.toggle('ending', left != null && left <= 10000);
  }

  function startClock() {
    const running = Boolean(runningLot(lots));
    if (running && !clockTimer) clockTimer = setInterval(renderClock, CLOCK_MS);
    if (!running && clockTimer) {
      clearInterval(clockTimer);
      clockTimer = null;
    }
    renderClock();
  }

  function personName(person) {
    if (!person) return t('console.lot.no_leader');
    if (person.id === DELETED_ID) return t('console.lot.deleted_account');
    return String(person.name || person.id);
  }

  function resultText(lot) {
    const result = lot.result || {};
    const title = lot.title || '';
    switch (result.reason) {
      case 'sold':
        return t('console.lot.result_sold', {
          title,
          name: personName(result.winner),
          price: formatPrice(result.amount ?? lot.current_bid, lot.currency),
        });
      case 'no_bids': return t('console.lot.result_no_bids', { title });
      case 'reserve_not_met': return t('console.lot.result_reserve', { title });
      case 'cancelled': return t('console.lot.result_cancelled', { title });
      default: return t('console.lot.result_ended', { title });
    }
  }

  function renderLot() {
    const lot = runningLot(lots);
    $('lot-running').hidden = !lot;
    $('lot-none').hidden = Boolean(lot);
    if (lot) {
      remember(desk, lot.high_bidder);
      $('lot-title').textContent = String(lot.title ?? '');
      $('lot-price').textContent = formatPrice(lot.bids ? lot.current_bid : lot.starting_bid, lot.currency);
      setText($('lot-price-label'), lot.bids ? 'console.lot.current_bid' : 'console.lot.starting_bid');
      $('lot-leader').textContent = personName(lot.high_bidder);
      $('lot-bids').textContent = tn('console.lot.bids', Number(lot.bids || 0));
      $('lot-next').textContent = t('console.lot.next_bid', { price: formatPrice(lot.next_bid, lot.currency) });
    }
    const last = lastLot(lots);
    $('lot-last').hidden = !last;
    if (last) $('lot-last-text').textContent = resultText(last);
    startClock();
  }

  function voidButton(user, lot) {
    const button = el('button', {
      type: 'button',
      class: 'small-button danger',
      text: t('console.lot.void'),
      'aria-label': t('console.lot.void_named', { name: user.name || user.id }),
    });
    button.addEventListener('click', () => askVoid(user, button, { lot }));
    return button;
  }

  function row(r, lot) {
    const li = el('li', { class: `bid-row${r.voided ? ' voided' : ''}` });
    li.dataset.n = String(r.n);
    if (r.who) li.dataset.user = String(r.who.id);
    const who = r.who
      ? el('button', { type: 'button', class: 'mod-author bid-who', text: String(r.who.name ?? r.who.id) })
      : el('span', { class: 'bid-who', text: t(r.gone ? 'console.lot.deleted_account' : 'console.lot.no_leader') });
    if (r.who) who.addEventListener('click', () => onPerson(r.who));
    const head = el('p', { class: 'bid-head' }, who);
    if (r.voided) head.append(el('span', { class: 'mod-badge voided', text: t('console.lot.voided') }));
    const figures = el('p', { class: 'bid-figures' });
    if (r.max != null) {
      figures.append(el('span', { class: 'bid-max', text: t('console.lot.max', { price: formatPrice(r.max, lot.currency) }) }));
    }
    figures.append(el('span', { class: 'bid-amount', text: t('console.lot.made', { price: formatPrice(r.amount, lot.currency) }) }));
    li.append(head, figures);
    if (r.at != null) li.append(timeElement(r.at));
    // One button per person, on their newest standing bid.
    const first = r.who && !r.voided && lot.state === 'active'
      && rows.find((x) => x.who && x.who.id === r.who.id && !x.voided) === r;
    if (first) li.append(voidButton(r.who, lot));
    return li;
  }

  function renderLog() {
    const lot = shown == null ? null : lots.lots[shown];
    $('lot-log-section').hidden = !lot;
    if (!lot) return;
    setText($('lot-log-heading'), 'console.lot.log_heading', { title: String(lot.title ?? '') });
    $('lot-log-empty').hidden = rows.length > 0 || logError != null;
    // Redrawn under the keyboard (a void took a button away): stay on the same row.
    const list = $('lot-log');
    const active = document.activeElement;
    const focused = active && list.contains(active) ? active.closest('li').dataset.n : null;
    list.replaceChildren(...rows.map((r) => row(r, lot)));
    const same = focused == null ? null : byData(list, 'n', focused);
    if (same) {
      const stay = same.querySelector('button.danger') || same.querySelector('button');
      if (stay) stay.focus();
    }
    $('lot-log-error').textContent = logError || '';
  }

  async function readLog() {
    const id = shown;
    if (id == null) return;
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    lastRead = Date.now();
    try {
      const { bids } = await api(`${API_BASE}/auctions/${encodeURIComponent(id)}/bids`);
      if (id !== shown) return;
      rows = bidRows(bids);
      standing = standingBidders(rows);
      for (const r of rows) remember(desk, r.who);
      logError = null;
    } catch (err) {
      if (id === shown) logError = describeError(err);
    } finally {
      reading = false;
      renderLog();
      onLogRead();
      if (again) {
        again = false;
        readSoon();
      }
    }
  }

  // Bids come in flurries: one read now, then at most one per LOG_GAP_MS.
  function readSoon() {
    if (readTimer) return;
    readTimer = setTimeout(() => {
      readTimer = null;
      readLog();
    }, refreshDelay(lastRead, Date.now(), LOG_GAP_MS));
  }

  function show(id) {
    if (id === shown) return;
    shown = id;
    rows = [];
    standing = new Map();
    logError = null;
    renderLog();
    if (id != null) readSoon();
  }

  // ---- voiding --------------------------------------------------------------------------

  // `opener` gets the keyboard back when the sheet closes, or `fallback` if it has gone.
  function askVoid(user, opener, { lot = runningLot(lots), fallback = $('lot-section') } = {}) {
    if (!lot || !user) return;
    // The log row it was opened from: a redraw while the sheet is open replaces `opener`.
    const row = opener && opener.closest ? opener.closest('#lot-log li')?.dataset.n ?? null : null;
    voiding = { auction: lot, user, opener, fallback, row };
    setText($('void-heading'), 'console.lot.void_heading', { name: String(user.name ?? user.id) });
    const count = standing.get(user.id) || 0;
    $('void-text').textContent = tn('console.lot.void_text', count, {
      name: String(user.name ?? user.id), title: String(lot.title ?? ''),
    });
    reason.value = '';
    voidError.textContent = '';
    $('void-confirm').disabled = false;
    if (!dialog.open) dialog.showModal();
    reason.focus();
  }

  function voidRefusal(err) {
    if (err.code === 'conflict') return t('console.lot.error_no_bids');
    if (err.code === 'auction_not_active') return t('console.lot.error_closed');
    return describeError(err);
  }

  async function confirmVoid(event) {
    event.preventDefault();
    if (!voiding) return;
    const { auction, user } = voiding;
    const text = reason.value.trim().slice(0, REASON_MAX);
    const button = $('void-confirm');
    button.disabled = true;
    voidError.textContent = '';
    try {
      await act('auction.void', { auction_id: auction.id, user_id: user.id, reason: text }, { name: String(user.name ?? user.id) });
      dialog.close();
    } catch (err) {
      voidError.textContent = voidRefusal(err);
    } finally {
      button.disabled = false;
      readSoon();
    }
  }

  reason.maxLength = REASON_MAX;
  $('void-form').addEventListener('submit', confirmVoid);
  $('void-cancel').addEventListener('click', () => dialog.close());
  $('void-close').addEventListener('click', () => dialog.close());
  closeOnBackdrop(dialog);
  dialog.addEventListener('close', () => {
    const { opener = null, fallback = null, row = null } = voiding || {};
    voiding = null;
    const usable = (node) => node && document.contains(node) && !node.closest('[hidden]');
    const same = row == null ? null : byData($('lot-log'), 'n', row);
    const stay = same && (same.querySelector('button.danger') || same.querySelector('button'));
    if (usable(opener)) opener.focus();
    else if (usable(stay)) stay.focus();
    else if (usable(fallback)) fallback.focus();
  });

  return {
    // A socket message: the lots after it, the panel drawn, and the log read when it moved.
    fold(message) {
      lots = foldLots(lots, message);
      renderLot();
      if (['welcome', 'auction.queued', 'auction.started'].includes(message.type)) onLotsKnown();
      const lot = focusLot();
      const id = lot ? lot.id : null;
      if (id !== shown) show(id);
      else if (id != null && ['welcome', 'auction.bid', 'auction.voided', 'auction.ended'].includes(message.type)
        && (message.type === 'welcome' || message.auction_id === id)) readSoon();
      else renderLog();
    },
    // Whether a person's bids on the running lot still count (the person panel asks).
    standingBids(userId) {
      const lot = runningLot(lots);
      if (!lot || lot.id !== shown) return 0;
      return standing.get(userId) || 0;
    },
    runningTitle() {
      const lot = runningLot(lots);
      return lot ? String(lot.title ?? '') : '';
    },
    titleOf(auctionId) {
      const lot = lots.lots[auctionId];
      return lot ? String(lot.title ?? '') : '';
    },
    askVoid,
    refresh: readSoon,
    rerender() {
      renderLot();
      renderLog();
    },
  };
}
