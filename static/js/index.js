// The start page: live and upcoming shows.

import { api, API_BASE } from './api.js';
import { errorText } from './auth.js';
import { formatDateTime, initI18n, setText } from './i18n.js';

const $ = (id) => document.getElementById(id);
const lists = { live: [], upcoming: [] };

function card(room, kind) {
  const li = document.createElement('li');
  li.className = 'card room-card';
  const link = document.createElement('a');
  link.className = 'room-link';
  link.href = `/rooms/${encodeURIComponent(room.id)}`;
  link.textContent = room.title;
  const meta = document.createElement('p');
  meta.className = 'room-meta';
  if (kind === 'live') {
    const badge = document.createElement('span');
    badge.className = 'live-badge';
    setText(badge, 'viewer.live');
    meta.append(badge);
  } else {
    const when = document.createElement('span');
    if (room.scheduled_at) {
      setText(when, 'index.starts_at', { time: formatDateTime(room.scheduled_at) });
    } else {
      setText(when, 'index.starts_soon');
    }
    meta.append(when);
  }
  if (room.host && room.host.name) {
    const host = document.createElement('span');
    setText(host, 'viewer.hosted_by', { name: room.host.name });
    meta.append(host);
  }
  li.append(link, meta);
  return li;
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
