// Live auctions on the viewer page: the lot on the block with its price, high bidder and timer
// ring, one-tap Bid and the custom-max sheet, your standing, the result, "You won" with
// checkout, and the lots up next with Pre-bid (docs/protocol.md, "Auctions").
//
// The lots and your standing are the room's state (`getState().auctions`, auction-state.js);
// this module keeps only what a tap is waiting for. The server's clock decides: the timer runs
// against RoomClient.serverNow(), never against what the video seems to show.

import { api, API_BASE } from './api.js';
import { errorText } from './auth.js';
import { $, clearText, closeOnBackdrop, el } from './dom.js';
import {
  formatClock, formatPrice, formatSeconds, formatTime, language, minorToMajorText, parseMajor, setText, t,
} from './i18n.js';
import { activeLot, awaitingPayment, lastResult, queuedLots, standing } from './auction-state.js';
import { randomKey } from './shop.js';

const TICK_MS = 200;
const URGENT_MS = 5000;
const MAX_MINOR = 10 ** 12;

export function setupViewerAuction({ roomId, getClient, getState, signedIn, openSignIn, payOrder }) {
  let tap = null; // {auctionId, amount, key}: a bid whose answer we did not hear; a retry reuses the key
  let busy = false;
  let notice = null; // {key, args, tone}
  let sheetLot = null; // the lot the custom-bid sheet is for
  let ticker = null;
  let replaying = false;
  let unpaidRead = null; // the user whose unpaid wins were read over HTTP
  let shownNext = null; // the "Up next" list as last drawn

  const card = $('auction-card');
  const sheet = $('bid-sheet');
  const auctions = () => getState().auctions;
  // A replay, or a show that has ended: nothing to bid on, only a win to pay for.
  const over = () => replaying || Boolean(getState().room && getState().room.state === 'ended');
  const you = () => getState().you;
  // The host and the room's moderators never bid (the server refuses them too).
  const staff = () => { const me = you(); return Boolean(me) && (me.role === 'host' || me.role === 'moderator'); };
  const now = () => { const client = getClient(); return client ? client.serverNow() : Date.now(); };
  const fold = (event) => { const client = getClient(); if (client) client.apply(event); };
  const price = (minor, lot) => formatPrice(minor, lot.currency);

  // ---- rendering -------------------------------------------------------------------------

  function say(key, args, tone = 'info') {
    notice = key ? { key, args, tone } : null;
    renderNotice();
  }

  function renderNotice() {
    const node = $('auction-notice');
    node.classList.remove('error', 'ok');
    if (!notice) {
      clearText(node);
      return;
    }
    if (notice.tone !== 'info') node.classList.add(notice.tone);
    setText(node, notice.key, notice.args);
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

  function resultKey(lot) {
    const result = lot.result || {};
    switch (result.reason) {
      case 'sold': return ['auction.result.sold', {
        title: lot.title, name: (result.winner && result.winner.name) || '', amount: price(result.amount, lot),
      }];
      case 'no_bids': return ['auction.result.no_bids', { title: lot.title }];
      case 'reserve_not_met': return ['auction.result.reserve_not_met', { title: lot.title }];
      default: return ['auction.result.cancelled', { title: lot.title }];
    }
  }

  function renderLot(lot) {
    $('auction-lot').hidden = !lot;
    if (!lot) return;
    card.dataset.auctionId = lot.id;
    $('auction-title').textContent = lot.title || '';
    showImage($('auction-image'), lot.image_url || '');
    const bids = Number(lot.bids || 0);
    setText($('auction-price-label'), bids ? 'auction.current_bid' : 'auction.starting_bid');
    $('auction-price').textContent = price(bids ? lot.current_bid : lot.starting_bid, lot);
    const leader = $('auction-leader');
    if (lot.high_bidder && bids) setText(leader, 'auction.leader', { name: lot.high_bidder.name || '' });
    else setText(leader, 'auction.no_bids_yet');

    const mine = standing(auctions(), lot.id);
    const standingEl = $('auction-standing');
    standingEl.classList.remove('winning', 'outbid');
    if (mine && mine.leading) {
      standingEl.hidden = false;
      standingEl.classList.add('winning');
      if (mine.max != null) setText(standingEl, 'auction.winning', { max: price(mine.max, lot) });
      else setText(standingEl, 'auction.winning_plain');
    } else if (mine && mine.outbid) {
      standingEl.hidden = false;
      standingEl.classList.add('outbid');
      setText(standingEl, 'auction.outbid');
    } else {
      standingEl.hidden = true;
      clearText(standingEl);
    }
    card.dataset.standing = mine && mine.leading ? 'winning' : mine && mine.outbid ? 'outbid' : 'none';

    const bidButton = $('bid-button');
    $('auction-actions').hidden = staff() || over();
    setText(bidButton, 'auction.bid', { amount: price(lot.next_bid, lot) });
    bidButton.disabled = busy;
    $('custom-bid-open').disabled = busy;
    renderTimer(lot);
  }

  function renderTimer(lot) {
    const left = Math.max(0, Number(lot.ends_at || 0) - now());
    const total = Math.max(1000, Number(lot.duration_s || 0) * 1000);
    const fraction = Math.max(0, Math.min(1, left / total));
    const arc = $('timer-arc');
    const offset = String(Math.round((1 - fraction) * 1000) / 10);
    if (arc.getAttribute('stroke-dashoffset') !== offset) arc.setAttribute('stroke-dashoffset', offset);
    const text = left > 0 ? formatClock(left) : t('auction.closing');
    const timeEl = $('auction-time');
    if (timeEl.textContent !== text) timeEl.textContent = text;
    $('auction-timer').classList.toggle('urgent', left > 0 && left <= URGENT_MS);
    const label = left > 0 ? t('auction.time_left', { time: text }) : text;
    if ($('auction-timer').getAttribute('aria-label') !== label) $('auction-timer').setAttribute('aria-label', label);
    // Time is up by the server's clock: no more bids from here; its auction.ended follows.
    const closed = left <= 0;
    $('bid-button').disabled = busy || closed;
    $('custom-bid-open').disabled = busy || closed;
  }

  function renderWon() {
    const box = $('auction-won');
    const due = awaitingPayment(auctions())[0] || null;
    box.hidden = !due; // a win is paid for even after the show, while its replay plays
    if (box.hidden) return;
    const lot = auctions().lots[due.auction_id] || {};
    const order = due.order;
    const title = lot.title || ((order.lines || [])[0] || {}).title || '';
    setText($('auction-won-title'), due.second_chance ? 'auction.won.second_chance' : 'auction.won.title');
    setText($('auction-won-text'), 'auction.won.text', {
      title, amount: formatPrice(order.amount, order.currency), time: formatTime(order.pay_by),
    });
  }

  function renderResult(active) {
    const node = $('auction-result');
    const lot = active || over() ? null : lastResult(auctions());
    node.hidden = !lot;
    if (!lot) {
      clearText(node);
      return;
    }
    const [key, args] = resultKey(lot);
    setText(node, key, args);
    node.dataset.reason = (lot.result && lot.result.reason) || '';
  }

  function renderNext() {
    const lots = queuedLots(auctions());
    $('auction-next').hidden = lots.length === 0 || over();
    const canBid = !staff();
    // Drawn again only when it changed (not at every bid): a keyboard user's focus stays.
    const drawn = JSON.stringify([language(), canBid, lots.map((lot) => [
      lot.id, lot.title, lot.starting_bid, lot.currency, standing(auctions(), lot.id)?.max ?? null,
    ])]);
    if (drawn === shownNext) return;
    shownNext = drawn;
    $('auction-next-list').replaceChildren(...lots.map((lot) => {
      const mine = standing(auctions(), lot.id);
      const li = el(
        'li',
        { class: 'auction-next-row', dataset: { auctionId: lot.id } },
        el('span', { class: 'auction-next-lot' },
          el('span', { class: 'auction-next-name', text: lot.title || '' }),
          el('span', { class: 'auction-next-start', text: t('auction.starts_at_bid', { amount: price(lot.starting_bid, lot) }) }),
          mine && mine.max != null ? el('span', { class: 'auction-next-mine', text: t('auction.your_max', { max: price(mine.max, lot) }) }) : null),
      );
      if (canBid) {
        const button = el('button', {
          type: 'button',
          class: 'small secondary',
          text: t('auction.pre_bid'),
          'aria-label': t('auction.pre_bid_named', { title: lot.title || '' }),
        });
        button.addEventListener('click', () => openSheet(lot));
        li.append(button);
      }
      return li;
    }));
  }

  function render() {
    const state = auctions();
    const lot = over() ? null : activeLot(state);
    const due = awaitingPayment(state).length > 0;
    const show = due || (!over() && Boolean(lot || lastResult(state) || queuedLots(state).length));
    card.hidden = !show;
    document.body.dataset.auction = lot ? 'active' : 'none';
    if (!show) {
      stopTicker();
      return;
    }
    card.dataset.state = lot ? 'active' : 'idle';
    renderLot(lot);
    renderWon();
    renderResult(Boolean(lot));
    renderNext();
    renderNotice();
    if (lot) startTicker();
    else stopTicker();
  }

  function tick() {
    const lot = activeLot(auctions());
    if (lot && !over()) renderTimer(lot);
  }

  function startTicker() {
    if (!ticker) ticker = setInterval(tick, TICK_MS);
  }

  function stopTicker() {
    clearInterval(ticker);
    ticker = null;
  }

  // ---- bidding ---------------------------------------------------------------------------

  async function placeBid(lot, amount) {
    if (!signedIn()) {
      say('auction.sign_in_to_bid');
      openSignIn();
      return false;
    }
    const client = getClient();
    if (!client || busy) return false;
    busy = true;
    render();
    // The same key only for a retry of the same unanswered bid (same lot, same amount).
    if (!tap || tap.auctionId !== lot.id || tap.amount !== amount) tap = { auctionId: lot.id, amount, key: randomKey() };
    try {
      const reply = await client.request('bid', { auction_id: lot.id, amount, key: tap.key }, { quiet: true });
      tap = null;
      // Leading is shown by the standing line; a max that did not take the lead is said.
      if (reply.leading) say(null);
      else say('auction.outbid_at_once', { amount: price(reply.amount, lot) }, 'error');
      return true;
    } catch (err) {
      if (err.code === 'timeout' || err.code === 'disconnected') {
        say('auction.error.not_sent', undefined, 'error');
      } else {
        tap = null;
        refusal(err, lot);
      }
      return false;
    } finally {
      busy = false;
      render();
    }
  }

  function refusal(err, lot) {
    const event = err.event || {};
    switch (err.code) {
      case 'bid_too_low':
        if (event.next_bid != null) fold({ type: 'auction.next_bid', auction_id: lot.id, next_bid: Number(event.next_bid) });
        say('auction.error.bid_too_low', { amount: price(auctions().lots[lot.id]?.next_bid ?? lot.next_bid, lot) }, 'error');
        break;
      case 'auction_not_active':
      case 'not_found':
        say('auction.error.not_active', undefined, 'error');
        break;
      case 'forbidden':
        say('auction.error.forbidden', undefined, 'error');
        break;
      case 'rate_limited':
        say('auction.error.rate_limited', { seconds: formatSeconds(Number(err.retryAfter || 1)) }, 'error');
        break;
      case 'unauthorized':
        openSignIn();
        say('auction.sign_in_to_bid');
        break;
      default:
        say('error.generic_detail', { detail: errorText(err) }, 'error');
    }
  }

  function bidNow() {
    const lot = activeLot(auctions());
    if (lot) placeBid(lot, Number(lot.next_bid));
  }

  // ---- the custom-bid sheet --------------------------------------------------------------

  // The least a max from this sheet may be: the lot's next bid, or, for the leader raising their
  // own max, more than it.
  function least(lot) {
    const mine = standing(auctions(), lot.id);
    const raise = mine && mine.leading && mine.max != null ? mine.max + 1 : 0;
    return Math.max(Number(lot.next_bid || 0), raise);
  }

  function openSheet(lot) {
    if (!signedIn()) {
      say('auction.sign_in_to_bid');
      openSignIn();
      return;
    }
    sheetLot = lot;
    $('bid-error').textContent = '';
    $('bid-max').removeAttribute('aria-invalid');
    renderSheet();
    $('bid-max').value = minorToMajorText(least(lot), lot.currency);
    if (!sheet.open) sheet.showModal();
    $('bid-max').focus();
    $('bid-max').select();
  }

  function renderSheet() {
    if (!sheetLot) return;
    const lot = auctions().lots[sheetLot.id] || sheetLot;
    const queued = lot.state === 'queued';
    setText($('bid-sheet-title'), queued ? 'auction.custom.pre_bid_title' : 'auction.custom.title');
    $('bid-sheet-lot').textContent = lot.title || '';
    setText($('bid-sheet-price'), queued ? 'auction.custom.opens_at' : 'auction.custom.least', {
      amount: price(least(lot), lot),
    });
    setText($('bid-max-label'), 'auction.custom.max_in', { currency: lot.currency });
  }

  async function submitSheet(event) {
    event.preventDefault();
    if (!sheetLot) return;
    const lot = auctions().lots[sheetLot.id] || sheetLot;
    const input = $('bid-max');
    const amount = parseMajor(input.value, lot.currency);
    const error = $('bid-error');
    if (amount == null || amount < 1 || amount > MAX_MINOR) {
      input.setAttribute('aria-invalid', 'true');
      error.textContent = t('auction.custom.error.amount');
      input.focus();
      return;
    }
    if (amount < least(lot)) {
      input.setAttribute('aria-invalid', 'true');
      error.textContent = t('auction.custom.error.too_low', { amount: price(least(lot), lot) });
      input.focus();
      return;
    }
    input.removeAttribute('aria-invalid');
    error.textContent = '';
    $('bid-submit').disabled = true;
    const placed = await placeBid(lot, amount);
    $('bid-submit').disabled = false;
    if (placed) sheet.close();
    else if (notice) error.textContent = t(notice.key, notice.args);
  }

  // ---- paying for a won lot --------------------------------------------------------------

  function pay() {
    const due = awaitingPayment(auctions())[0];
    if (!due) return;
    const lot = auctions().lots[due.auction_id] || {};
    payOrder({
      order: due.order,
      title: lot.title || ((due.order.lines || [])[0] || {}).title || '',
      image_url: lot.image_url || '',
      onPaid: (order) => {
        fold({ type: 'order.created', order: { ...due.order, ...order, state: 'paid' } });
        say('auction.won.paid', { title: lot.title || '' }, 'ok');
        render();
      },
    });
  }

  // A win is told once, as it happens: after a reload the lots still to pay for are read from
  // the buyer's orders.
  async function readUnpaid() {
    const me = you();
    if (!signedIn() || !me || unpaidRead === me.id) return;
    unpaidRead = me.id;
    try {
      const data = await api(`${API_BASE}/orders`);
      for (const order of (data && data.orders) || []) {
        if (order.state !== 'awaiting_payment' || order.auction_id == null) continue;
        if (order.room_id != null && String(order.room_id) !== String(roomId)) continue;
        fold({ type: 'auction.won', auction_id: order.auction_id, order, second_chance: Boolean(order.second_chance) });
      }
    } catch {
      unpaidRead = null; // the next welcome tries again
      return;
    }
    render();
  }

  // ---- wiring ----------------------------------------------------------------------------

  $('bid-button').addEventListener('click', bidNow);
  $('custom-bid-open').addEventListener('click', () => {
    const lot = activeLot(auctions());
    if (lot) openSheet(lot);
  });
  $('auction-pay').addEventListener('click', pay);
  $('bid-form').addEventListener('submit', submitSheet);
  $('bid-cancel').addEventListener('click', () => sheet.close());
  $('bid-sheet-close').addEventListener('click', () => sheet.close());
  closeOnBackdrop(sheet);
  sheet.addEventListener('close', () => { sheetLot = null; });
  window.addEventListener('lc:languagechange', () => {
    render();
    renderSheet();
  });
  window.addEventListener('lc:session', () => {
    tap = null;
    unpaidRead = null;
    notice = null;
    render();
  });

  return {
    render,
    // An ended show's replay: no bidding, no live card (viewer-replay.js marks the lots).
    replay() {
      replaying = true;
      if (sheet.open) sheet.close();
      render();
    },
    attach(client) {
      // The client has folded each event into the room's state before these run.
      for (const type of ['welcome', 'auction.queued', 'auction.bid', 'auction.voided', 'bid.accepted', 'outbid', 'auction.won', 'order.lapsed', 'order.created', 'room.state']) {
        client.addEventListener(type, () => {
          render();
          if (sheet.open) renderSheet();
        });
      }
      client.addEventListener('welcome', readUnpaid);
      client.addEventListener('auction.started', () => {
        notice = null;
        render();
      });
      client.addEventListener('auction.ended', ({ detail }) => {
        if (sheetLot && sheetLot.id === detail.auction_id) sheet.close();
        if (tap && tap.auctionId === detail.auction_id) tap = null;
        notice = null;
        render();
      });
      client.addEventListener('outbid', ({ detail }) => {
        const lot = auctions().lots[detail.auction_id];
        if (lot && lot.state === 'active') say('auction.outbid_by', { amount: price(detail.next_bid, lot) }, 'error');
      });
      client.addEventListener('auction.won', () => say(null));
    },
  };
}
