// The creator page: /creators/{id}. Who they are, how many follow them, Follow, the show
// they are live in now, their upcoming shows (each with Remind me) and their past shows.
// Their rating as a seller (seller-rating.js) goes in #seller-rating once anyone rated them.

import { api, API_BASE, getToken, getUser } from './api.js';
import {
  adoptTokenFromHash, errorText, renderAccountHeader, setupAuthSheet, verifySession, wireAccountButton,
} from './auth.js';
import { $, el, timeEl } from './dom.js';
import { formatDateTime, initI18n, setText, t, tn } from './i18n.js';
import { renderSellerRating } from './seller-rating.js';

const creatorId = decodeURIComponent(location.pathname.replace(/\/+$/, '').split('/').pop() || '');
let profile = null;
let reminded = new Set(); // upcoming shows the signed-in person asked to be reminded of
let pending = null; // what a guest pressed before signing in: {kind, roomId}
let busy = false;
let auth = null;

const showUrl = (id) => `/rooms/${encodeURIComponent(id)}`;

function status(text) {
  const node = $('creator-status');
  node.removeAttribute('data-i18n');
  node.textContent = text || '';
}

function showItem(room, kind) {
  const link = el('a', { href: showUrl(room.id), text: room.title });
  const info = el('div', {}, link);
  if (kind === 'live') {
    const badge = el('span', { class: 'live-badge' });
    setText(badge, 'viewer.live');
    info.prepend(badge);
  } else if (kind === 'upcoming') {
    const when = room.scheduled_at
      ? timeEl(room.scheduled_at, t('index.starts_at', { time: formatDateTime(room.scheduled_at) }), 'show-when')
      : el('span', { class: 'show-when', text: t('index.starts_soon') });
    info.append(when);
  } else if (room.ended_at) {
    info.append(timeEl(room.ended_at, t('follow.page.ended_at', { time: formatDateTime(room.ended_at) }), 'show-when'));
  }
  const item = el('li', { class: 'show-item' }, info);
  if (kind === 'upcoming') {
    const on = reminded.has(room.id);
    const button = el('button', {
      type: 'button',
      class: on ? 'secondary small remind-button reminded' : 'primary small remind-button',
      'aria-pressed': String(on),
      'aria-label': t(on ? 'follow.reminded_for' : 'follow.remind_for', { title: room.title }),
      text: t(on ? 'follow.reminded' : 'follow.remind'),
      disabled: busy,
    });
    button.addEventListener('click', () => press({ kind: 'remind', roomId: room.id }));
    item.append(button);
  }
  return item;
}

function render() {
  if (!profile) return;
  document.title = `${profile.name} · livecommerce`;
  const name = $('creator-name');
  name.removeAttribute('data-i18n');
  name.textContent = profile.name;
  $('creator-followers').textContent = tn('follow.followers', profile.followers);
  const follow = $('creator-follow');
  const user = getToken() ? getUser() : null;
  const following = Boolean(profile.you && profile.you.following);
  follow.hidden = Boolean(user && user.id === profile.id);
  follow.disabled = busy;
  follow.classList.toggle('following', following);
  follow.setAttribute('aria-pressed', String(following));
  setText(follow, following ? 'follow.following' : 'follow.follow');
  const { live, upcoming, ended } = profile.shows;
  $('creator-live').hidden = live.length === 0;
  $('creator-live-list').replaceChildren(...live.map((r) => showItem(r, 'live')));
  $('creator-upcoming-empty').hidden = upcoming.length > 0;
  $('creator-upcoming-list').replaceChildren(...upcoming.map((r) => showItem(r, 'upcoming')));
  $('creator-past').hidden = ended.length === 0;
  $('creator-past-list').replaceChildren(...ended.map((r) => showItem(r, 'ended')));
}

async function load() {
  try {
    profile = await api(`${API_BASE}/creators/${encodeURIComponent(creatorId)}`);
  } catch (err) {
    setText($('creator-name'), err.status === 404 ? 'follow.page.not_found' : 'error.generic');
    if (err.status !== 404) status(errorText(err));
    $('main').removeAttribute('aria-busy');
    return;
  }
  reminded = new Set();
  if (getToken()) {
    const asked = await Promise.all(profile.shows.upcoming.map((r) => (
      api(`${API_BASE}/rooms/${encodeURIComponent(r.id)}/reminder`).catch(() => null))));
    profile.shows.upcoming.forEach((r, i) => { if (asked[i] && asked[i].reminded) reminded.add(r.id); });
  }
  $('main').removeAttribute('aria-busy');
  render();
  await loadRating();
}

let rating = null;

async function loadRating() {
  try {
    rating = await api(`${API_BASE}/sellers/${encodeURIComponent(creatorId)}/rating`, { auth: false });
  } catch {
    rating = null; // the rest of the page stands without it
  }
  renderSellerRating($('seller-rating'), rating);
}

async function press(action) {
  if (!getToken()) {
    pending = action;
    auth.open('signin');
    return;
  }
  if (busy || !profile) return;
  busy = true;
  render();
  try {
    if (action.kind === 'follow') {
      const on = !(profile.you && profile.you.following);
      const answer = await api(`${API_BASE}/creators/${encodeURIComponent(creatorId)}/follow`, { method: on ? 'PUT' : 'DELETE' });
      profile = { ...profile, followers: answer.followers, you: { following: answer.following } };
      status(on ? t('follow.followed_note', { name: profile.name }) : '');
    } else {
      const on = !reminded.has(action.roomId);
      const answer = await api(`${API_BASE}/rooms/${encodeURIComponent(action.roomId)}/reminder`, { method: on ? 'PUT' : 'DELETE' });
      if (answer.reminded) reminded.add(action.roomId); else reminded.delete(action.roomId);
      status(on ? t('follow.reminded_note') : '');
    }
  } catch (err) {
    status(err.code === 'show_ended' ? t('follow.error.show_ended') : errorText(err));
  } finally {
    busy = false;
    render();
  }
}

async function main() {
  adoptTokenFromHash();
  await initI18n();
  auth = await setupAuthSheet();
  wireAccountButton($('account-button'), auth);
  $('creator-follow').addEventListener('click', () => press({ kind: 'follow' }));
  window.addEventListener('lc:languagechange', () => {
    render();
    renderSellerRating($('seller-rating'), rating);
  });
  window.addEventListener('lc:session', async () => {
    renderAccountHeader();
    await load();
    const action = pending;
    pending = null;
    if (!getToken() || !action || !profile) return;
    const done = action.kind === 'follow' ? Boolean(profile.you && profile.you.following) : reminded.has(action.roomId);
    if (!done) await press(action);
  });
  await verifySession();
  renderAccountHeader();
  await load();
}

main();
