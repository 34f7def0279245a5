// The start page: live and upcoming shows.

import { api, API_BASE } from './api.js';
import { errorText } from './auth.js';
import { $, el } from './dom.js';
import { formatDateTime, initI18n, setText } from './i18n.js';

const lists = { live: [], upcoming: [] };

function card(room, kind) {
  const link = el('a', { class: 'room-link', href: `/rooms/${encodeURIComponent(room.id)}`, text: room.title });
  const meta = el('p', { class: 'room-meta' });
  if (kind === 'live') {
    const badge = el('span', { class: 'live-badge' });
    setText(badge, 'viewer.live');
    meta.append(badge);
  } else {
    const when = el('span');
    if (room.scheduled_at) {
      setText(when, 'index.starts_at', { time: formatDateTime(room.scheduled_at) });
    } else {
      setText(when, 'index.starts_soon');
    }
    meta.append(when);
  }
  if (room.host && room.host.name) {
    // The creator's page: who they are, Follow, their other shows.
    const host = el('a', { class: 'creator-link', href: `/creators/${encodeURIComponent(room.host.id)}` });
    setText(host, 'viewer.hosted_by', { name: room.host.name });
    meta.append(host);
  }
  return el('li', { class: 'card room-card' }, link, meta);
}

function render() {
  for (const kind of ['live', 'upcoming']) {
    const ul = $(`${kind}-rooms`);
    const rooms = lists[kind];
    if (kind === 'upcoming') {
      rooms.sort((a, b) => (a.scheduled_at ?? Infinity) - (b.scheduled_at ?? Infinity));
    }
    ul.replaceChildren(...rooms.map((r) => card(r, kind)));
    ul.removeAttribute('aria-busy');
    $(`${kind}-empty`).hidden = rooms.length > 0;
  }
}

async function load() {
  $('index-error').textContent = '';
  try {
    const [live, upcoming] = await Promise.all([
      api(`${API_BASE}/rooms?state=live`, { auth: false }),
      api(`${API_BASE}/rooms?state=upcoming`, { auth: false }),
    ]);
    lists.live = (live && live.rooms) || [];
    lists.upcoming = (upcoming && upcoming.rooms) || [];
  } catch (err) {
    $('index-error').textContent = errorText(err);
  }
  render();
}

async function main() {
  await initI18n();
  window.addEventListener('lc:languagechange', render);
  await load();
  // Refresh now and then so a show that goes live appears without a reload.
  setInterval(() => { if (!document.hidden) load(); }, 30000);
}

main();
