// The room's auction lots as the console knows them, folded from its socket events
// (docs/protocol.md, "Auctions"), and the staff's bid log shaped for review. Plain data in,
// plain data out: no DOM, no socket, no clock (the caller passes the server's `now`), so the
// browser tests drive it directly. room-state.js belongs to the viewer pages; the console
// keeps its own fold so that a moderator's view never waits on theirs.

export function initialLots() {
  return {
    lots: {}, // auction id -> auction (the public shape), kept current by the events
    running: null, // the id of the active lot, if any
    last: null, // the id of the lot that ended last, for "last result"
  };
}

const PRICE_FIELDS = ['amount', 'bidder', 'next_bid', 'ends_at', 'bids'];

function withLot(state, lot) {
  return { ...state, lots: { ...state.lots, [lot.id]: lot } };
}

// A bid or a void moves the price: the same fields, named alike on both events.
function priced(lot, event) {
  const next = { ...lot };
  for (const field of PRICE_FIELDS) {
    if (event[field] === undefined) continue;
    if (field === 'amount') next.current_bid = event.amount;
    else if (field === 'bidder') next.high_bidder = event.bidder;
    else next[field] = event[field];
  }
  return next;
}

function placed(state, lot) {
  let next = withLot(state, lot);
  if (lot.state === 'active') next = { ...next, running: lot.id };
  else if (next.running === lot.id) next = { ...next, running: null };
  if (lot.state === 'ended' && (next.last == null || (lot.ends_at || 0) >= (next.lots[next.last]?.ends_at || 0))) {
    next = { ...next, last: lot.id };
  }
  return next;
}

// One socket message in, the lots after it. Messages about other things pass unchanged; an
// event for a lot the console has not seen (it joined after the lot was queued and missed
// nothing) is kept only when it carries the whole lot.
export function foldLots(state, event) {
  if (!event || typeof event !== 'object') return state;
  switch (event.type) {
    case 'welcome': {
      let next = initialLots();
      for (const lot of Array.isArray(event.auctions) ? event.auctions : []) {
        if (lot && lot.id != null) next = placed(next, lot);
      }
      return next;
    }
    case 'auction.queued':
    case 'auction.started':
      return event.auction && event.auction.id != null ? placed(state, event.auction) : state;
    case 'auction.bid':
    case 'auction.voided': {
      const lot = state.lots[event.auction_id];
      return lot ? withLot(state, priced(lot, event)) : state;
    }
    case 'auction.ended': {
      const lot = state.lots[event.auction_id];
      if (!lot) return state;
      const result = { reason: event.reason, winner: event.winner ?? null, amount: event.amount ?? null };
      const ended = { ...lot, state: 'ended', result };
      const next = withLot(state, ended);
      return {
        ...next,
        running: next.running === lot.id ? null : next.running,
        last: lot.id,
      };
    }
    default:
      return state;
  }
}

export function runningLot(state) {
  return state.running == null ? null : state.lots[state.running] || null;
}

export function lastLot(state) {
  return state.last == null ? null : state.lots[state.last] || null;
}

// What is left of a running lot's clock, by the server's clock (`serverNow`); 0 once it has
// run out (the server then closes it), null when it has no clock (queued or ended).
export function timeLeftMs(lot, serverNow) {
  if (!lot || lot.state !== 'active' || !lot.ends_at) return null;
  return Math.max(0, lot.ends_at - serverNow);
}

// A deleted account's bids stay in the log under this id, with no name (docs/protocol.md).
export const DELETED_ID = 'deleted';

// GET /auctions/{id}/bids as staff gets it (oldest first), as the log shows it: newest
// first, each row naming who placed it (`placed_by`; without staff rights, the leader after
// it) with their max, the price it made, when, whether it was voided, and whether its
// bidder's account is gone (`who` is then null: nobody to open or to void).
export function bidRows(bids) {
  const rows = (Array.isArray(bids) ? bids : []).map((b) => {
    const who = b.placed_by || b.bidder || null;
    const gone = Boolean(who && who.id === DELETED_ID);
    return {
      n: Number(b.n),
      who: gone ? null : who,
      gone,
      max: b.max ?? null,
      amount: b.amount,
      at: b.at,
      voided: Boolean(b.voided),
    };
  });
  return rows.sort((a, b) => b.n - a.n);
}

// The people whose bids still count, by id: how many bids each has standing. Voiding is
// offered only for them.
export function standingBidders(rows) {
  const counts = new Map();
  for (const row of rows) {
    if (row.voided || !row.who || row.who.id == null) continue;
    counts.set(row.who.id, (counts.get(row.who.id) || 0) + 1);
  }
  return counts;
}

// When to read the bid log again, given the last read's start (`lastAt`, or null) and now:
// at once, or after what is left of `gapMs`, so a flurry of bids costs a read or two a
// second however many arrive.
export function refreshDelay(lastAt, now, gapMs = 500) {
  if (lastAt == null) return 0;
  return Math.max(0, lastAt + gapMs - now);
}
