// The creator studio: /studio.

import { api, API_BASE, getToken, getUser } from './api.js';
import {
  adoptTokenFromHash, errorText, setupAuthSheet, signOut, verifySession, wireAccountButton,
} from './auth.js';
import { ChatView, sendLine } from './chat.js';
import { $, countDown, el, markConnection, option, setStatus } from './dom.js';
import {
  errorSentence, formatDateTime, formatSeconds, initI18n, language, LANGUAGES, setText, t, tn,
} from './i18n.js';
import { RoomClient } from './room-client.js';
import { initialState } from './room-state.js';
import { setupStudioLive } from './studio-live.js';
import { setupStudioObs } from './studio-obs.js';
import { resultsHref, setupStudioResults } from './studio-results.js';
import { setupStudioReviews } from './studio-reviews.js';
import { setupStudioAuction } from './studio-auction.js';
import { setupStudioGiveaway } from './studio-giveaway.js';
import { setupStudioPoll } from './studio-poll.js';
import { setupStudioGroupBuy } from './studio-groupbuy.js';
import { setupStudioShop } from './studio-shop.js';
import { setupStudioFollow } from './studio-follow.js';

const CURRENCIES = ['EUR', 'NOK', 'SEK', 'DKK', 'USD', 'GBP'];
const DEFAULT_CURRENCY = { nb: 'NOK', sv: 'SEK', en: 'EUR', nl: 'EUR', lv: 'EUR' };

// The host's shows (read over HTTP) and the one chosen; the chosen show's room state is its
// client's (room-state.js).
const state = {
  rooms: [],
  selectedId: null,
};
let client = null;
const roomState = () => (client ? client.roomState : initialState());
let chat = null;
let auth = null;
let shop = null;
let auction = null;
let giveaway = null;
let poll = null;
let groupBuy = null;
let live = null;
let obs = null;
let results = null;
const audience = setupStudioFollow();
let noticeTimer = null;

const selected = () => state.rooms.find((r) => r.id === state.selectedId) || null;

// ---- form options ---------------------------------------------------------------------

function fillCurrencyOptions() {
  const select = $('room-currency');
  const previous = select.value;
  let names = null;
  try { names = new Intl.DisplayNames([language()], { type: 'currency' }); } catch { names = null; }
  select.replaceChildren(...CURRENCIES.map((code) => {
    const name = names ? names.of(code) : '';
    return option(code, name && name !== code ? `${code} · ${name}` : code);
  }));
  select.value = previous || DEFAULT_CURRENCY[language()] || 'EUR';
}

function fillLocaleOptions() {
  const select = $('room-locale');
  const previous = select.value;
  select.replaceChildren(...LANGUAGES.map((lang) => {
    const choice = el('option', { value: lang, lang });
    setText(choice, `language.${lang}`);
    return choice;
  }));
  select.value = previous || language();
}

// ---- rendering --------------------------------------------------------------------------

function stateLabel(room) {
  return t(`room.state.${room.state}`);
}

function whenText(room) {
  if (room.state === 'live' && room.started_at) return t('studio.rooms.live_since', { time: formatDateTime(room.started_at) });
  if (room.state === 'ended' && room.ended_at) return t('studio.rooms.ended_at', { time: formatDateTime(room.ended_at) });
  if (room.scheduled_at) return t('index.starts_at', { time: formatDateTime(room.scheduled_at) });
  return t('studio.rooms.not_scheduled');
}

function renderGate() {
  const signedIn = Boolean(getToken());
  $('gate').hidden = signedIn;
  $('workspace').hidden = !signedIn;
  const user = signedIn ? getUser() : null;
  const name = $('user-name');
  name.hidden = !user;
  name.textContent = user ? (user.display_name || user.username || '') : '';
  setText($('account-button'), signedIn ? 'auth.sign_out' : 'auth.sign_in');
}

function renderRooms() {
  const order = { live: 0, scheduled: 1, ended: 2 };
  const rooms = [...state.rooms].sort((a, b) => (order[a.state] ?? 3) - (order[b.state] ?? 3)
    || (b.created_at ?? 0) - (a.created_at ?? 0));
  $('rooms-empty').hidden = rooms.length > 0;
  $('my-rooms').replaceChildren(...rooms.map((room) => {
    const button = el(
      'button',
      { type: 'button', dataset: { roomId: room.id }, 'aria-current': room.id === state.selectedId ? 'true' : null },
      el('span', { class: 'room-title', text: room.title }),
      el('span', { class: `state-badge ${room.state}`, text: stateLabel(room) }),
      el('span', { class: 'room-when', text: whenText(room) }),
    );
    button.addEventListener('click', () => selectRoom(room.id));
    // An ended show's figures are final: a way to them right from the list. In a tab of
    // its own, as every link out of the studio: leaving the studio stops a camera on air.
    const link = room.state === 'ended' ? el('a', {
      class: 'button-link small room-results-link',
      href: resultsHref(room.id),
      target: '_blank',
      rel: 'noopener',
      'aria-label': t('studio.results.link_named', { title: room.title }),
      text: t('studio.results.link'),
    }) : null;
    return el('li', { class: link ? 'with-results' : null }, button, link);
  }));
}

function renderPanel() {
  const room = selected();
  $('panel-empty').hidden = Boolean(room);
  $('panel-body').hidden = !room;
  results.render();
  if (!room) return;
  $('panel-title').textContent = room.title;
  const badge = $('panel-state');
  badge.className = `state-badge ${room.state}`;
  badge.textContent = stateLabel(room);
  $('panel-meta').textContent = whenText(room);
  const link = $('viewer-link');
  link.href = `/rooms/${encodeURIComponent(room.id)}`;
  $('console-link').href = `/rooms/${encodeURIComponent(room.id)}/console`;
  const { viewers, you } = roomState();
  $('panel-viewers').textContent = tn('viewers.count', viewers ?? 0);
  $('end-show').disabled = room.state === 'ended';
  $('end-show').hidden = room.state === 'ended';
  const canChat = room.state !== 'ended' && (!you || you.can_chat !== false);
  $('studio-chat-input').disabled = !canChat;
  $('studio-chat-form').querySelector('button').disabled = !canChat;
  live.render();
  obs.render();
  audience.render(room);
}

function renderAll() {
  renderGate();
  renderRooms();
  renderPanel();
  if (shop && getToken()) shop.renderAll();
  if (auction && getToken()) auction.render();
  if (giveaway && getToken()) giveaway.render();
  if (groupBuy && getToken()) groupBuy.render();
}

function actionStatus(text, isError = false) {
  setStatus($('room-action-status'), text, isError);
}

function chatNotice(text) {
  clearInterval(noticeTimer);
  $('studio-chat-status').textContent = text;
}

function chatError(msg) {
  const status = $('studio-chat-status');
  clearInterval(noticeTimer);
  if (msg.code === 'rate_limited') {
    const seconds = Number(msg.retry_after || 1);
    noticeTimer = countDown(status, seconds, (left) => t('error.rate_limited', { seconds: formatSeconds(left) }));
    return;
  }
  status.textContent = errorSentence(msg.code, { detail: msg.message || '' }, msg.message || msg.code || '');
}

// ---- data -------------------------------------------------------------------------------

function upsertRoom(room) {
  const i = state.rooms.findIndex((r) => r.id === room.id);
  if (i >= 0) state.rooms[i] = { ...state.rooms[i], ...room };
  else state.rooms.push(room);
}

async function loadRooms() {
  $('rooms-error').textContent = '';
  try {
    const data = await api(`${API_BASE}/rooms?host=me`);
    state.rooms = (data && data.rooms) || [];
  } catch (err) {
    if (err.status === 401) {
      signOut();
      return;
    }
    $('rooms-error').textContent = errorText(err);
  }
  const wanted = decodeURIComponent(location.hash.slice(1));
  if (!state.selectedId && wanted && state.rooms.some((r) => r.id === wanted)) {
    selectRoom(wanted);
    return;
  }
  renderAll();
}

function selectRoom(id) {
  if (state.selectedId === id && client) {
    renderAll();
    return;
  }
  state.selectedId = id;
  history.replaceState(null, '', `#${encodeURIComponent(id)}`);
  actionStatus('');
  chatNotice('');
  chat.replace([]);
  if (client) client.close();
  client = new RoomClient(id, { token: getToken() });
  wireClient(client, id);
  const c = client;
  shop.attach(c, () => client === c && state.selectedId === id);
  auction.attach(c, () => client === c && state.selectedId === id);
  giveaway.attach(c, () => client === c && state.selectedId === id);
  groupBuy.attach(c, () => client === c && state.selectedId === id);
  poll.attach(c, () => client === c && state.selectedId === id);
  shop.roomChanged(selected());
  auction.roomChanged();
  giveaway.roomChanged();
  poll.roomChanged();
  groupBuy.roomChanged();
  live.roomChanged(selected());
  client.connect();
  renderAll();
}

function wireClient(c, id) {
  const mine = () => client === c && state.selectedId === id;
  // The client has folded each event into its roomState before these run; the show's entry
  // in the list follows the room.
  c.addEventListener('welcome', () => {
    if (!mine()) return;
    if (c.roomState.room) upsertRoom(c.roomState.room);
    chat.replace(c.roomState.chat);
    renderAll();
  });
  c.addEventListener('chat.message', ({ detail }) => { if (mine()) chat.append(detail); });
  c.addEventListener('chat.deleted', ({ detail }) => { if (mine()) chat.remove(detail.id); });
  c.addEventListener('room.state', () => {
    if (!mine()) return;
    if (selected() && c.roomState.room) upsertRoom(c.roomState.room);
    renderAll();
  });
  c.addEventListener('viewers', () => {
    if (!mine()) return;
    renderPanel();
    shop.renderCounters();
  });
  // Refusals of selling commands are shown next to their controls (they come back `handled`).
  c.addEventListener('error', ({ detail }) => { if (mine() && !detail.handled) chatError(detail); });
  c.addEventListener('unavailable', ({ detail }) => {
    if (mine()) actionStatus(t('connection.unavailable', { seconds: formatSeconds(Number(detail.retry_after || 1)) }), true);
  });
  c.addEventListener('status', ({ detail }) => {
    if (!mine()) return;
    if (detail.state === 'reconnecting') actionStatus(t('connection.reconnecting'), true);
    else if (detail.state === 'open') actionStatus('');
    else if (detail.state === 'closed' && detail.code === 4401) signOut();
    else if (detail.state === 'closed' && detail.code && detail.code !== 1000 && detail.code !== 4410) {
      actionStatus(t('connection.closed'), true);
    }
  });
  markConnection(c, mine);
}

// ---- actions ----------------------------------------------------------------------------

async function createRoom(event) {
  event.preventDefault();
  const error = $('create-error');
  error.textContent = '';
  const title = $('room-title-input').value.trim();
  if (!title) {
    error.textContent = t('studio.create.title_required');
    $('room-title-input').focus();
    return;
  }
  const body = { title, currency: $('room-currency').value, locale: $('room-locale').value };
  const when = $('room-schedule').value;
  if (when) {
    const ms = new Date(when).getTime();
    if (Number.isNaN(ms)) {
      error.textContent = t('studio.create.bad_time');
      return;
    }
    body.scheduled_at = ms;
  }
  const button = $('create-room');
  button.disabled = true;
  try {
    const room = await api(`${API_BASE}/rooms`, { method: 'POST', body });
    upsertRoom(room);
    $('room-title-input').value = '';
    $('room-schedule').value = '';
    selectRoom(room.id);
    actionStatus(t('studio.create.created', { title: room.title }));
    $('panel-title').focus?.();
  } catch (err) {
    error.textContent = errorText(err);
  } finally {
    button.disabled = false;
  }
}

// Going live is publishing the camera (studio-live.js): the server takes the room live when
// the first WHIP session starts. Ending the show turns the camera off first.
async function endShow() {
  const room = selected();
  if (!room) return;
  $('end-show').disabled = true;
  actionStatus(t('studio.ending'));
  await live.stop();
  try {
    const updated = await api(`${API_BASE}/rooms/${encodeURIComponent(room.id)}/end`, { method: 'POST' });
    upsertRoom(updated && updated.id ? updated : { ...room, state: 'ended' });
    actionStatus(t('studio.ended'));
  } catch (err) {
    actionStatus(errorText(err), true);
  }
  renderAll();
}

async function sendChat(event) {
  event.preventDefault();
  await sendLine(client, $('studio-chat-input'), chatNotice);
}

async function main() {
  adoptTokenFromHash();
  await initI18n();
  auth = await setupAuthSheet();
  chat = new ChatView($('studio-chat-log'), {
    hostId: () => { const r = selected(); return r && r.host && r.host.id; },
    selfId: () => { const { you } = roomState(); return (you && you.id) || (getUser() || {}).id; },
  });
  fillCurrencyOptions();
  fillLocaleOptions();
  live = setupStudioLive({
    getRoom: selected,
    onPublished: (id) => {
      const room = state.rooms.find((r) => r.id === id);
      if (room && room.state === 'scheduled') upsertRoom({ ...room, state: 'live' });
      renderAll();
    },
  });
  obs = setupStudioObs({ getRoom: selected });
  results = setupStudioResults({ getRoom: selected });
  setupStudioReviews();
  shop = setupStudioShop({
    getClient: () => client,
    getRoom: selected,
    currencies: CURRENCIES,
    defaultCurrency: () => DEFAULT_CURRENCY[language()] || 'EUR',
    onProducts: () => {
      if (auction) auction.render();
      if (giveaway) giveaway.render();
      if (groupBuy) groupBuy.render();
    },
  });
  auction = setupStudioAuction({
    getClient: () => client,
    getRoom: selected,
    getProducts: () => shop.products(),
    onStock: () => shop.loadProducts(),
  });
  giveaway = setupStudioGiveaway({
    getClient: () => client,
    getRoom: selected,
    getProducts: () => shop.products(),
    onStock: () => shop.loadProducts(),
  });

  groupBuy = setupStudioGroupBuy({
    getClient: () => client,
    getRoom: selected,
    getProducts: () => shop.products(),
    onStock: () => shop.loadProducts(),
  });
  poll = setupStudioPoll({ getClient: () => client });

  wireAccountButton($('account-button'), auth);
  $('gate-signin').addEventListener('click', () => auth.open('signin'));
  $('gate-register').addEventListener('click', () => auth.open('register'));
  $('create-room-form').addEventListener('submit', createRoom);
  const confirm = $('confirm-end');
  $('end-show').addEventListener('click', () => confirm.showModal());
  confirm.addEventListener('close', () => {
    if (confirm.returnValue === 'end') endShow();
    confirm.returnValue = '';
  });
  $('studio-chat-form').addEventListener('submit', sendChat);
  window.addEventListener('lc:languagechange', () => {
    fillCurrencyOptions();
    poll.render();
    renderAll();
  });
  window.addEventListener('lc:session', ({ detail }) => {
    if (!detail.token) {
      if (client) client.close();
      client = null;
      state.rooms = [];
      state.selectedId = null;
      shop.roomChanged(null);
      live.roomChanged(null);
      renderAll();
      return;
    }
    renderGate();
    if (!state.rooms.length) loadRooms();
    shop.loadProducts();
  });

  renderAll();
  await verifySession();
  renderGate();
  if (getToken()) await Promise.all([loadRooms(), shop.loadProducts()]);
}

main();
