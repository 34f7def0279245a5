// Live auctions as the pages know them (docs/protocol.md, "Auctions"): the lots of the room's
// run sheet, the bids seen, your own standing and the lots you won. Pure, like room-state.js,
// which keeps this as `state.auctions` and passes every message through `foldAuctions`.
//
// welcome.auctions is read after the snapshot and may be a step ahead of the events, so each
// lot remembers the seq of what last changed it, and an older event for it changes nothing;
// an ended lot stays ended. Private messages (`outbid`, `auction.won`, `order.lapsed`) and
// the reply `bid.accepted` carry no seq: they only ever say the bidder's own standing, and a
// price they name only ever raises the price known.

const FEED_KEPT = 50; // bids kept per lot, newest first
const ENDED_KEPT = 20; // ended lots kept (the run sheet's results)

export function initialAuctions() {
  return {
    lots: {}, // id -> the auction as last described, plus `seq` (its last event) and `place`
    places: 0, // places handed out so far: the run sheet's order, first seen first
    last: null, // the id of the lot that ended last
    mine: {}, // id -> {max, leading, outbid}: the lots you bid on
    feed: {}, // id -> [{seq, amount, bidder, voided}], newest first
    won: {}, // order id -> {auction_id, order, second_chance, state}: awaiting_payment, paid, lapsed
    lapsed: {}, // auction id -> {order, offered}: a winner did not pay (the host's second chance)
  };
}

const TYPES = new Set([
  'welcome', 'auction.queued', 'auction.started', 'auction.bid', 'auction.voided', 'auction.ended',
  'outbid', 'auction.won', 'order.lapsed', 'order.created', 'bid.accepted', 'auction.next_bid',
  'auction.offered',
]);

function sameId(a, b) {
  return a != null && b != null && String(a) === String(b);
}

function seqOf(event) {
  return typeof event.seq === 'number' && event.ref == null ? event.seq : null;
}

// Whether `event` is older than what `lot` already shows.
function stale(lot, seq) {
  return seq != null && lot.seq != null && seq <= lot.seq;
}

function withLot(auctions, lot) {
  return { ...auctions, lots: { ...auctions.lots, [lot.id]: lot } };
}

function keepEnded(lots, last) {
  const ended = Object.values(lots).filter((l) => l.state === 'ended');
  if (ended.length <= ENDED_KEPT) return lots;
  const drop = new Set(ended.sort((a, b) => (a.ended_seq ?? 0) - (b.ended_seq ?? 0))
    .slice(0, ended.length - ENDED_KEPT).map((l) => l.id).filter((id) => id !== last));
  return Object.fromEntries(Object.entries(lots).filter(([id]) => !drop.has(id)));
}

const RANK = { queued: 0, active: 1, ended: 2 };

// Whether `auction` is an older picture of the lot than `known`: a lot only moves forward
// (queued, active, ended), and while it runs its count of bids only grows (a void lowers it,
// and the voided event says so).
function behind(known, auction) {
  const was = RANK[known.state] ?? 0;
  const now = RANK[auction.state] ?? 0;
  return now < was || (now === was && Number(auction.bids ?? 0) < Number(known.bids ?? 0));
}

// The lot as the server describes it in full (welcome, auction.queued, auction.started).
function upsert(auctions, auction, seq) {
  if (!auction || auction.id == null) return auctions;
  const known = auctions.lots[auction.id];
  if (known && (stale(known, seq) || behind(known, auction))) return auctions;
  let { places } = auctions;
  const place = known ? known.place : places++;
  const lot = { ...known, ...auction, seq: seq ?? known?.seq ?? null, place };
  const next = { ...withLot(auctions, lot), places };
  return lot.state === 'ended' && (!known || known.state !== 'ended') ? { ...next, last: lot.id } : next;
}

function patchLot(auctions, id, seq, patch) {
  const lot = auctions.lots[id];
  if (!lot || stale(lot, seq)) return null;
  return withLot(auctions, { ...lot, ...patch, seq: seq ?? lot.seq });
}

function setMine(auctions, id, patch) {
  const known = auctions.mine[id] || { max: null, leading: false, outbid: false };
  return { ...auctions, mine: { ...auctions.mine, [id]: { ...known, ...patch } } };
}

// Your standing on lot `id` after the high bidder became `bidder`. A bid of yours from another
// device makes you the leader here too, with a max this page was not told.
function follow(auctions, id, bidder, you) {
  if (!you) return auctions;
  const leading = Boolean(bidder) && sameId(bidder.id, you.id);
  const mine = auctions.mine[id];
  if (!mine) return leading ? setMine(auctions, id, { leading: true }) : auctions;
  if (leading === mine.leading) return auctions;
  return setMine(auctions, id, { leading, outbid: !leading });
}

function welcome(auctions, event, you) {
  // Ended lots stay known; the rest is as the welcome says (a lot missing from it is gone).
  const ended = Object.fromEntries(Object.entries(auctions.lots).filter(([, l]) => l.state === 'ended'));
  let next = { ...auctions, lots: ended };
  for (const auction of event.auctions || []) next = upsert(next, auction, seqOf({ seq: event.seq }));
  if (!you || you.role === 'guest') return { ...next, mine: {}, won: {}, lapsed: {} };
  const bids = you.bids && typeof you.bids === 'object' ? you.bids : null;
  if (bids) {
    const mine = {};
    for (const [id, max] of Object.entries(bids)) {
      const lot = next.lots[id];
      const leading = Boolean(lot && lot.high_bidder && sameId(lot.high_bidder.id, you.id));
      mine[id] = { max: Number(max), leading, outbid: !leading && Boolean(lot) && lot.state !== 'queued' && Number(lot.bids) > 0 };
    }
    next = { ...next, mine };
  }
  return next;
}

function bid(auctions, event, you) {
  const seq = seqOf(event);
  const known = auctions.lots[event.auction_id];
  // A welcome read a step ahead of its seq already counts this bid.
  if (!known || known.state === 'ended' || Number(event.bids) <= Number(known.bids ?? 0)) return auctions;
  const patched = patchLot(auctions, event.auction_id, seq, {
    current_bid: event.amount,
    high_bidder: event.bidder || null,
    next_bid: event.next_bid,
    ends_at: event.ends_at,
    bids: event.bids,
  });
  if (!patched) return auctions;
  const entry = { seq, amount: event.amount, bidder: event.bidder || null, voided: false };
  const feed = [entry, ...(patched.feed[event.auction_id] || [])].slice(0, FEED_KEPT);
  return follow({ ...patched, feed: { ...patched.feed, [event.auction_id]: feed } }, event.auction_id, event.bidder, you);
}

function voided(auctions, event, you) {
  const seq = seqOf(event);
  const patched = patchLot(auctions, event.auction_id, seq, {
    current_bid: event.amount,
    high_bidder: event.bidder || null,
    next_bid: event.next_bid,
    ends_at: event.ends_at,
    bids: event.bids,
  });
  if (!patched) return auctions;
  // The bids that person's max made are struck through; the price falls back.
  const feed = (patched.feed[event.auction_id] || [])
    .map((b) => (b.bidder && sameId(b.bidder.id, event.user_id) ? { ...b, voided: true } : b));
  let next = { ...patched, feed: { ...patched.feed, [event.auction_id]: feed } };
  if (you && sameId(event.user_id, you.id) && next.mine[event.auction_id]) {
    next = setMine(next, event.auction_id, { max: null, leading: false, outbid: false, voided: true });
  }
  return follow(next, event.auction_id, event.bidder, you);
}

function ended(auctions, event) {
  const seq = seqOf(event);
  const lot = auctions.lots[event.auction_id];
  if (!lot || lot.state === 'ended' || stale(lot, seq)) return auctions;
  const result = {
    ...(lot.result || {}),
    reason: event.reason,
    winner: event.winner || null,
    amount: event.amount ?? null,
  };
  const next = withLot(auctions, { ...lot, state: 'ended', result, seq: seq ?? lot.seq, ended_seq: seq });
  return { ...next, lots: keepEnded(next.lots, lot.id), last: lot.id };
}

// A price heard without a seq (a reply, a private note) only ever raises the known one.
function raise(auctions, id, amount, nextBid) {
  const lot = auctions.lots[id];
  if (!lot || lot.state === 'ended') return auctions;
  const patch = {};
  if (amount != null && amount > Number(lot.current_bid || 0)) patch.current_bid = amount;
  if (nextBid != null && nextBid > Number(lot.next_bid || 0)) patch.next_bid = nextBid;
  return Object.keys(patch).length ? withLot(auctions, { ...lot, ...patch }) : auctions;
}

function setWon(auctions, orderId, patch) {
  const known = auctions.won[orderId];
  if (!known) return auctions;
  return { ...auctions, won: { ...auctions.won, [orderId]: { ...known, ...patch } } };
}

function fold(auctions, event, you) {
  switch (event.type) {
    case 'welcome':
      return welcome(auctions, event, you);
    case 'auction.queued':
    case 'auction.started':
      return upsert(auctions, event.auction, seqOf(event));
    case 'auction.bid':
      return bid(auctions, event, you);
    case 'auction.voided':
      return voided(auctions, event, you);
    case 'auction.ended':
      return ended(auctions, event);
    case 'bid.accepted': {
      const next = raise(auctions, event.auction_id, event.amount, null);
      return setMine(next, event.auction_id, {
        max: event.max ?? null, leading: Boolean(event.leading), outbid: !event.leading, voided: false,
      });
    }
    case 'outbid':
      return setMine(raise(auctions, event.auction_id, event.amount, event.next_bid), event.auction_id,
        { leading: false, outbid: true });
    // The page's own fact: a bid was refused as too low, and the server named the least now.
    case 'auction.next_bid':
      return raise(auctions, event.auction_id, null, event.next_bid);
    case 'auction.won': {
      const order = event.order;
      if (!order || order.id == null || auctions.won[order.id]) return auctions;
      const won = {
        auction_id: event.auction_id,
        order,
        second_chance: Boolean(event.second_chance),
        state: order.state === 'paid' ? 'paid' : 'awaiting_payment',
      };
      return { ...auctions, won: { ...auctions.won, [order.id]: won } };
    }
    case 'order.created':
      return event.order ? setWon(auctions, event.order.id, { state: 'paid', order: event.order }) : auctions;
    case 'order.lapsed': {
      const order = event.order;
      if (!order || order.id == null) return auctions;
      const next = setWon(auctions, order.id, { state: 'lapsed' });
      const id = order.auction_id ?? (auctions.won[order.id] && auctions.won[order.id].auction_id);
      if (id == null || next.lapsed[id]) return next;
      return { ...next, lapsed: { ...next.lapsed, [id]: { order, offered: false } } };
    }
    // The page's own fact: the host offered a lapsed lot to the runner-up.
    case 'auction.offered': {
      const lapsed = auctions.lapsed[event.auction_id];
      if (!lapsed) return auctions;
      return { ...auctions, lapsed: { ...auctions.lapsed, [event.auction_id]: { ...lapsed, offered: true } } };
    }
    default:
      return auctions;
  }
}

// The auctions after `event`, seen by `you` (the room's `you` after the event); `auctions`
// itself when the event says nothing about them.
export function foldAuctions(auctions, event, you) {
  if (!TYPES.has(event.type)) return auctions;
  return fold(auctions || initialAuctions(), event, you);
}

// ---- reading the state --------------------------------------------------------------------

export function activeLot(auctions) {
  return Object.values(auctions.lots).find((l) => l.state === 'active') || null;
}

// The run sheet: queued lots in the order they were queued.
export function queuedLots(auctions) {
  return Object.values(auctions.lots).filter((l) => l.state === 'queued').sort((a, b) => a.place - b.place);
}

// Ended lots, the latest first.
export function endedLots(auctions) {
  return Object.values(auctions.lots).filter((l) => l.state === 'ended')
    .sort((a, b) => (b.ended_seq ?? b.ends_at ?? 0) - (a.ended_seq ?? a.ends_at ?? 0) || b.place - a.place);
}

export function lastResult(auctions) {
  const lot = auctions.last != null ? auctions.lots[auctions.last] : null;
  return lot && lot.state === 'ended' ? lot : null;
}

// Your standing on a lot: null when you have not bid on it.
export function standing(auctions, id) {
  return auctions.mine[id] || null;
}

// Lots you won and have still to pay for, the soonest due first.
export function awaitingPayment(auctions) {
  return Object.values(auctions.won).filter((w) => w.state === 'awaiting_payment')
    .sort((a, b) => (a.order.pay_by ?? 0) - (b.order.pay_by ?? 0));
}
