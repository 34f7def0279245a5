// A room as the pages know it, folded from its socket events (docs/protocol.md, "The room
// gateway"): one pure reducer, `reduce(state, event) -> state`, shared by the viewer page, the
// studio and the moderator console. Plain data in, plain data out: no DOM, no socket, no clock.
// RoomClient folds every message it receives before dispatching it, so each listener renders
// from the state after the event.
//
// Room events carry `seq`: one already folded (a resume's overlap, a repeat) changes nothing,
// and one past a gap cannot be folded (the client resumes instead; `sequence` says which).
// Messages without `seq` (`viewers`, `sale.stock`, `reactions`) only ever carry the latest
// value. A page may fold a fact of its own the same way, an event without `seq`: the room as
// read over HTTP (`room`), a sale over by the server's clock or a refusal (`sale.ended`), units
// it just took or was refused (`sale.stock` with only `available`), the ack of its own
// `sale.start` (`sale.started`), the orders read over HTTP (`orders`). Auctions are kept in
// `auctions` by auction-state.js, which sees every message after this module's own step.

import { foldAuctions, initialAuctions } from './auction-state.js';

export const CHAT_KEPT = 300;

export function initialState() {
  return {
    seq: null, // the last room event folded (welcome.seq, then each event's)
    epoch: null, // the room history's epoch, from the welcome: a resume names it
    room: null, // {id, title, state, stream, slow_s, paid_partnership, moderators, host, ...}
    you: null, // {id, name, role, can_chat, holds?, bought?}, from the welcome
    viewers: null,
    chat: [], // the most recent lines, oldest first; a deleted line stays, marked `deleted`
    pinned: null, // the pinned product card
    pinnedChat: null, // the pinned chat line
    sales: {}, // sale id -> sale; an ended sale stays ended
    orders: [], // orders seen (order.created, or read over HTTP), newest first
    reactions: 0, // reactions counted since the page opened, every kind
    auctions: initialAuctions(), // lots, bids, your standing and wins (auction-state.js)
  };
}

// A room event with its place in the room's history. Replies carry the caller's `ref` and may
// name a seq (an ack names its event's): only room events move the cursor.
export function isSequenced(message) {
  return message.type !== 'welcome' && message.type !== 'ack' && message.ref == null
    && typeof message.seq === 'number';
}

// What to do with a message given the last seq folded: 'apply' (a room event next in line,
// a welcome, or a message without seq), 'duplicate' (seen already) or 'gap' (events missing).
export function sequence(seq, message) {
  if (!isSequenced(message) || seq == null) return 'apply';
  if (message.seq <= seq) return 'duplicate';
  if (message.seq > seq + 1) return 'gap';
  return 'apply';
}

function viewersOf(value, known) {
  if (typeof value === 'number') return value;
  if (value && typeof value.count === 'number') return value.count;
  return known;
}

function lastLines(lines) {
  return lines.length > CHAT_KEPT ? lines.slice(-CHAT_KEPT) : lines;
}

function sameId(a, b) {
  return a != null && b != null && String(a) === String(b);
}

// welcome.sales can be a step ahead of the events, and a sale may be known from before:
// a sale that has ended stays ended.
function upsertSale(sales, sale) {
  if (!sale || sale.id == null) return sales;
  const known = sales[sale.id];
  if (known && known.state === 'ended' && sale.state !== 'ended') return sales;
  return { ...sales, [sale.id]: { ...known, ...sale } };
}

function patchSale(sales, id, patch) {
  const sale = sales[id];
  return sale ? { ...sales, [id]: { ...sale, ...patch } } : sales;
}

function patchRoom(state, patch) {
  return state.room ? { ...state, room: { ...state.room, ...patch } } : state;
}

// An order the page already shows stays as it is, unless `fresher` (read over HTTP, which
// knows a refund).
function addOrders(orders, more, fresher = false) {
  const known = new Map(orders.map((o) => [o.id, o]));
  let changed = false;
  for (const order of more) {
    if (!order || order.id == null || (known.has(order.id) && !fresher)) continue;
    known.set(order.id, order);
    changed = true;
  }
  if (!changed) return orders;
  return [...known.values()].sort((a, b) => (b.created_at ?? 0) - (a.created_at ?? 0));
}

function welcome(state, event) {
  // Ended sales the page knew stay known (and ended); the welcome's sales join them.
  const ended = Object.fromEntries(Object.entries(state.sales).filter(([, s]) => s.state === 'ended'));
  const sales = (event.sales || []).reduce(upsertSale, ended);
  return {
    ...state,
    seq: event.seq ?? null,
    epoch: event.epoch ?? null,
    room: event.room || state.room,
    you: event.you || null,
    viewers: viewersOf(event.viewers, state.viewers),
    chat: lastLines([...(event.chat || [])]),
    pinned: event.pinned || null,
    pinnedChat: event.pinned_chat || null,
    sales,
  };
}

function fold(state, event) {
  switch (event.type) {
    case 'welcome':
      return welcome(state, event);
    case 'room':
      return event.room ? { ...state, room: event.room } : state;
    case 'chat.message':
      if (event.id != null && state.chat.some((m) => sameId(m.id, event.id))) return state;
      return { ...state, chat: lastLines([...state.chat, chatLine(event)]) };
    case 'chat.deleted': {
      const chat = state.chat.map((m) => (sameId(m.id, event.id) ? { ...m, deleted: true } : m));
      // Deleting the pinned line unpins it too (no separate chat.unpinned).
      const pinnedChat = state.pinnedChat && sameId(state.pinnedChat.id, event.id) ? null : state.pinnedChat;
      return { ...state, chat, pinnedChat };
    }
    case 'chat.pinned':
      return { ...state, pinnedChat: event.message || null };
    case 'chat.unpinned':
      return { ...state, pinnedChat: null };
    case 'room.state': {
      if (!state.room) return state;
      const next = patchRoom(state, { state: event.state });
      // Nobody chats in an ended show.
      return event.state === 'ended' && next.you ? { ...next, you: { ...next.you, can_chat: false } } : next;
    }
    case 'stream.state':
      return patchRoom(state, { stream: event.state });
    case 'room.slow':
      return patchRoom(state, { slow_s: Number(event.seconds || 0) });
    case 'room.disclosure':
      return patchRoom(state, { paid_partnership: Boolean(event.paid_partnership) });
    case 'room.moderators':
      return patchRoom(state, { moderators: [...(event.moderators || [])] });
    case 'viewers':
      return { ...state, viewers: viewersOf(event.count, state.viewers) };
    case 'reactions': {
      const all = Object.values(event.counts || {}).reduce((a, b) => a + Number(b || 0), 0);
      return all ? { ...state, reactions: state.reactions + all } : state;
    }
    case 'product.pinned':
      return { ...state, pinned: event.product || null };
    case 'product.unpinned':
      return { ...state, pinned: null };
    case 'sale.started':
      return { ...state, sales: upsertSale(state.sales, event.sale) };
    case 'sale.stock': {
      // The server sends all three; the page's own guess (a hold it just made) only one.
      const counts = Object.fromEntries(['available', 'held', 'sold']
        .filter((name) => event[name] !== undefined).map((name) => [name, event[name]]));
      return { ...state, sales: patchSale(state.sales, event.sale_id, counts) };
    }
    case 'sale.ended': {
      const sale = state.sales[event.sale_id];
      if (!sale) return state;
      return {
        ...state,
        sales: patchSale(state.sales, event.sale_id, { state: 'ended', end_reason: event.reason || sale.end_reason }),
      };
    }
    case 'order.created':
      return event.order ? { ...state, orders: addOrders(state.orders, [event.order]) } : state;
    case 'orders':
      return { ...state, orders: addOrders(state.orders, event.orders || [], true) };
    default:
      return state;
  }
}

// A chat.message event as the line it is (its envelope's type and seq left out).
function chatLine(event) {
  const { type, seq, ...line } = event;
  return line;
}

// The room after `event`. A room event already folded, or one past a gap, changes nothing
// (`state` itself comes back).
export function reduce(state, event) {
  if (!event || typeof event.type !== 'string') return state;
  if (sequence(state.seq, event) !== 'apply') return state;
  const folded = fold(state, event);
  const auctions = foldAuctions(folded.auctions, event, folded.you);
  const next = auctions === folded.auctions ? folded : { ...folded, auctions };
  return isSequenced(event) ? { ...next, seq: event.seq } : next;
}

// ---- reading the state --------------------------------------------------------------------

// The room's sales, newest first.
export function salesNewestFirst(state) {
  return Object.values(state.sales).sort((a, b) => (b.starts_at ?? 0) - (a.starts_at ?? 0));
}
