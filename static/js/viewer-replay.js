// An ended show's replay on the viewer page: its recordings, one after the other, in the page's
// video element, and the product card that was pinned at each moment, so the replay stays
// shoppable (docs/protocol.md, "Replay").
//
// GET /api/v1/rooms/{id}/replay -> {recordings: [{url, media_type, started_at, ended_at}],
// pins: [{at, product | null}]}. A recording is finished a moment after the show ends, so an
// empty list is asked again a few times (and at once when the room says `replay.ready`).
// The card shown is the pin whose `at` is the latest one <= started_at + currentTime.
//
// Each lot auctioned during the show is marked with its hammer price (or why it did not sell),
// as a button that plays the moment it ended; no bidding on a replay. The lots are the room's
// (GET /api/v1/rooms/{id}/auctions) and the ones the page saw end (`getLots`); the group buys
// that closed are marked among them (GET /api/v1/rooms/{id}/group-buys).

import { api, API_BASE } from './api.js';
import { $, el } from './dom.js';
import { formatClock, formatPrice, setText, t } from './i18n.js';
import { setupReplayPolls } from './replay-polls.js';

const RETRY_MS = [1000, 2000, 4000, 8000, 15000];

// The pinned product at wall-clock time `at` (ms): the latest pin at or before it.
export function pinAt(pins, at) {
  let found = null;
  for (const pin of pins) {
    if (pin.at <= at) found = pin;
    else break;
  }
  return found ? found.product || null : null;
}

// Recordings in show order, each with its place on the replay's timeline (seconds).
export function timeline(recordings) {
  let offset = 0;
  return [...recordings]
    .filter((r) => r && typeof r.url === 'string')
    .sort((a, b) => (a.started_at ?? 0) - (b.started_at ?? 0))
    .map((r) => {
      const length = Math.max(0, ((r.ended_at ?? r.started_at ?? 0) - (r.started_at ?? 0)) / 1000);
      const segment = { ...r, offset, length };
      offset += length;
      return segment;
    });
}

// The ended lots that ran during the show, in the order they ended, each with what the replay
// says of it ({id, title, reason, amount, currency}) and where on the replay's timeline
// (seconds) it ended: null when no recording covers that moment.
export function lotMarks(lots, segments) {
  const seen = new Set();
  return lots
    .filter((lot) => lot && lot.state === 'ended' && lot.result && Number(lot.starts_at) > 0)
    .filter((lot) => !seen.has(lot.id) && seen.add(lot.id))
    .sort((a, b) => (a.ends_at ?? 0) - (b.ends_at ?? 0))
    .map((lot) => {
      const end = Number((lot.giveaway && lot.result.ended_at) || lot.ends_at || 0);
      const segment = segments.find((s) => end >= (s.started_at ?? 0) && end <= (s.started_at ?? 0) + s.length * 1000);
      const reason = lot.result.reason;
      return {
        id: lot.id,
        title: lot.title || '',
        reason,
        amount: reason === 'sold' ? lot.result.amount ?? null : null,
        currency: lot.currency,
        giveaway: Boolean(lot.giveaway),
        at: segment ? segment.offset + (end - (segment.started_at ?? 0)) / 1000 : null,
      };
    });
}

// The group buys that closed during the show, marked like lots: how many joined of how many it
// needed and whether it filled, where on the replay's timeline it closed.
export function groupMarks(groups, segments) {
  return groups
    .filter((g) => g && ['ended', 'expired', 'stopped'].includes(g.state) && Number(g.ended_at) > 0)
    .map((g) => {
      const end = Number(g.ended_at);
      const segment = segments.find((s) => end >= (s.started_at ?? 0) && end <= (s.started_at ?? 0) + s.length * 1000);
      return {
        id: g.id,
        kind: 'groupbuy',
        title: (g.product || {}).title || '',
        reason: g.filled_at ? 'filled' : 'not_filled',
        joined: Number(g.joined || 0),
        needed: Number(g.min_buyers || 0),
        ended_at: end,
        at: segment ? segment.offset + (end - (segment.started_at ?? 0)) / 1000 : null,
      };
    });
}

function markText(mark) {
  if (mark.kind === 'groupbuy') {
    const moment = t('groupbuy.results.moment', { title: mark.title, joined: mark.joined, needed: mark.needed });
    return `${moment} · ${t(`groupbuy.results.${mark.reason}`)}`;
  }
  if (mark.giveaway) return t('giveaway.replay.mark', { title: mark.title });
  return mark.reason === 'sold'
    ? t('auction.replay.sold', { title: mark.title, amount: formatPrice(mark.amount, mark.currency) })
    : t(`auction.replay.${['no_bids', 'reserve_not_met'].includes(mark.reason) ? mark.reason : 'cancelled'}`, { title: mark.title });
}

export function setupReplay({ roomId, video, onPin, onChange, getLots = () => [] }) {
  const bar = $('replay-bar');
  const toggle = $('replay-toggle');
  const seek = $('replay-seek');
  const time = $('replay-time');
  const replay = {
    state: 'idle', // idle | loading | ready | none (no recording) | error
    segments: [],
    pins: [],
    index: 0,
    product: undefined, // the card shown now (undefined: not decided yet)
    seeking: false,
    lots: [], // the room's lots, read over HTTP
    groups: [], // the room's group buys, read over HTTP
  };
  const polls = setupReplayPolls({ roomId }); // each poll's result, from the moment it ended
  let retryTimer = null;
  let shownLots = null; // the lot marks as last drawn
  let tries = 0;
  let active = false;

  const total = () => replay.segments.reduce((sum, s) => sum + s.length, 0);
  const current = () => replay.segments[replay.index] || null;

  function segmentLength(segment) {
    // The file knows best once it is loaded; the entry's times stand in until then.
    return segment === current() && Number.isFinite(video.duration) && video.duration > 0
      ? video.duration : segment.length;
  }

  function position() {
    const segment = current();
    return segment ? segment.offset + (video.currentTime || 0) : 0;
  }

  function setState(state) {
    replay.state = state;
    render();
    if (onChange) onChange(state);
  }

  // ---- rendering -------------------------------------------------------------------------

  function renderLots() {
    const box = $('replay-lots');
    const marks = active
      ? [...lotMarks([...replay.lots, ...getLots()], replay.segments), ...groupMarks(replay.groups, replay.segments)]
        .sort((a, b) => (a.at ?? Infinity) - (b.at ?? Infinity))
      : [];
    box.hidden = marks.length === 0;
    // Drawn again only when something changed: the buttons keep their focus while it plays.
    const drawn = JSON.stringify([marks, replay.state, t('auction.replay.heading')]);
    if (drawn === shownLots) return;
    shownLots = drawn;
    $('replay-lots-list').replaceChildren(...marks.map((mark) => {
      const text = markText(mark);
      const data = mark.kind === 'groupbuy' ? { groupId: mark.id } : { auctionId: mark.id };
      const item = el('li', { class: `replay-lot ${mark.kind || 'auction'} ${mark.reason}${mark.giveaway ? ' giveaway' : ''}`, dataset: data });
      if (mark.at == null || replay.state !== 'ready') {
        item.append(el('span', { class: 'replay-lot-text', text }));
      } else {
        const button = el('button', { type: 'button', class: 'replay-lot-text', text, 'aria-label': `${text}. ${t('auction.replay.seek', { title: mark.title })}` });
        button.addEventListener('click', () => seekTo(Math.min(1, Math.max(0, (mark.at - 3) / Math.max(total(), 0.001)))));
        item.append(button);
      }
      return item;
    }));
  }

  function render() {
    bar.hidden = !active || replay.state !== 'ready';
    renderLots();
    const segment = current();
    polls.render(bar.hidden || !segment ? null : (segment.started_at ?? 0) + (video.currentTime || 0) * 1000);
    if (bar.hidden) return;
    const playing = !video.paused && !video.ended;
    setText(toggle.querySelector('.visually-hidden'), playing ? 'viewer.replay.pause' : 'viewer.replay.play');
    toggle.dataset.playing = playing ? 'true' : 'false';
    const length = Math.max(total(), 0.001);
    if (!replay.seeking) seek.value = String(Math.round((position() / length) * 1000));
    const now = formatClock(position() * 1000);
    const all = formatClock(length * 1000);
    time.textContent = `${now} / ${all}`;
    seek.setAttribute('aria-valuetext', t('viewer.replay.position', { time: now, total: all }));
  }

  function showPin() {
    const segment = current();
    if (!segment) return;
    const product = pinAt(replay.pins, (segment.started_at ?? 0) + (video.currentTime || 0) * 1000);
    const same = replay.product !== undefined
      && (replay.product ? product && product.id === replay.product.id : !product);
    if (same) return;
    replay.product = product;
    onPin(product);
  }

  // ---- loading and playing -----------------------------------------------------------------

  function load(index, at = 0, { autoplay = true } = {}) {
    const segment = replay.segments[index];
    if (!segment) return;
    replay.index = index;
    video.srcObject = null;
    if (video.getAttribute('src') !== segment.url) {
      video.src = segment.url;
      if (at > 0) {
        video.addEventListener('loadedmetadata', () => { video.currentTime = at; }, { once: true });
      }
    } else {
      video.currentTime = at;
    }
    if (autoplay) video.play().catch(() => render());
    showPin();
    render();
  }

  async function fetchReplay() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (!active) return;
    let data;
    try {
      data = await api(`${API_BASE}/rooms/${encodeURIComponent(roomId)}/replay`, { auth: false });
    } catch (err) {
      if (!active) return;
      if (err.status === 404) {
        setState('none');
        return;
      }
      later();
      return;
    }
    if (!active) return;
    const segments = timeline((data && data.recordings) || []);
    replay.pins = [...((data && data.pins) || [])].sort((a, b) => a.at - b.at);
    if (!segments.length) {
      setState(tries < RETRY_MS.length ? 'loading' : 'none');
      later();
      return;
    }
    const first = replay.segments.length === 0;
    replay.segments = segments;
    setState('ready');
    if (first) load(0);
  }

  async function loadLots() {
    try {
      const data = await api(`${API_BASE}/rooms/${encodeURIComponent(roomId)}/group-buys`, { auth: false });
      replay.groups = Array.isArray(data && data.group_buys) ? data.group_buys : [];
    } catch {
      replay.groups = []; // a server without group buys: the lots alone
    }
    try {
      const data = await api(`${API_BASE}/rooms/${encodeURIComponent(roomId)}/auctions`, { auth: false });
      replay.lots = Array.isArray(data && data.auctions) ? data.auctions : [];
      // The show's giveaways are marked like its lots, at the moment each was drawn.
      const given = await api(`${API_BASE}/rooms/${encodeURIComponent(roomId)}/giveaways`, { auth: false });
      replay.lots.push(...((given && given.giveaways) || []).map((g) => ({
        ...g, title: (g.product && g.product.title) || '', giveaway: true,
      })));
    } catch {
      return; // the lots the page saw end are still marked
    }
    renderLots();
  }

  function later() {
    if (tries >= RETRY_MS.length) {
      if (replay.state !== 'ready') setState('none');
      return;
    }
    retryTimer = setTimeout(fetchReplay, RETRY_MS[tries]);
    tries += 1;
  }

  function seekTo(fraction) {
    const target = fraction * total();
    let index = replay.segments.findIndex((s) => target < s.offset + segmentLength(s));
    if (index < 0) index = replay.segments.length - 1;
    const segment = replay.segments[index];
    const at = Math.max(0, target - segment.offset);
    if (index === replay.index) video.currentTime = at;
    else load(index, at, { autoplay: !video.paused });
  }

  for (const type of ['timeupdate', 'play', 'pause', 'seeked', 'loadedmetadata']) {
    video.addEventListener(type, () => {
      if (!active) return;
      showPin();
      render();
    });
  }
  video.addEventListener('ended', () => {
    if (!active) return;
    if (replay.index + 1 < replay.segments.length) load(replay.index + 1);
    else render();
  });
  toggle.addEventListener('click', () => {
    if (video.ended && replay.index === replay.segments.length - 1) {
      load(0);
    } else if (video.paused) {
      video.play().catch(() => render());
    } else {
      video.pause();
    }
  });
  seek.addEventListener('input', () => {
    replay.seeking = true;
    seekTo(Number(seek.value) / 1000);
  });
  seek.addEventListener('change', () => { replay.seeking = false; render(); });
  window.addEventListener('lc:languagechange', render);

  return {
    // The show has ended: find its recordings and play them.
    start() {
      if (active) return;
      active = true;
      tries = 0;
      setState('loading');
      fetchReplay();
      loadLots();
      polls.load().then(render);
    },
    // A recording was just finished (`replay.ready`): look again now.
    refresh() {
      if (!active) return;
      tries = Math.min(tries, RETRY_MS.length - 1);
      fetchReplay();
    },
    get state() { return replay.state; },
    // The lots known changed (an auction ended as the show did).
    lotsChanged() { renderLots(); },
  };
}
