// The viewer page: /rooms/{room_id}.

import { api, API_BASE, getToken, getUser } from './api.js';
import {
  adoptTokenFromHash, errorText, setupAuthSheet, signOut, verifySession, wireAccountButton,
} from './auth.js';
import { ChatView, sendLine } from './chat.js';
import { $, clearText, countDown, el, markConnection } from './dom.js';
import {
  errorSentence, formatDateTime, formatNumber, formatSeconds, initI18n, setText, t, tn,
} from './i18n.js';
import { RoomClient } from './room-client.js';
import { initialState, reduce } from './room-state.js';
import { setupShop } from './shop.js';
import { setupProductDetails } from './viewer-product.js';
import { setupViewerAuction } from './viewer-auction.js';
import { setupViewerFollow } from './viewer-follow.js';
import { setupViewerGiveaway } from './viewer-giveaway.js';
import { setupViewerGroupBuy } from './viewer-groupbuy.js';
import { setupViewerModeration } from './viewer-moderation.js';
import { setupViewerReviews } from './viewer-reviews.js';
import { setupViewerPoll } from './viewer-poll.js';
import { setupViewerVideo } from './viewer-video.js';

const roomId = decodeURIComponent(location.pathname.replace(/\/+$/, '').split('/').pop() || '');
const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)');

let fatal = null; // a close code that ends the page's session with the room
let client = null;
// The room as read over HTTP until the socket joins; from then on the client's roomState.
let beforeJoin = initialState();
const roomState = () => (client ? client.roomState : beforeJoin);
let chat = null;
let auth = null;
let shop = null;
let auction = null;
let giveaway = null;
let groupBuy = null;
let moderation = null;
let poll = null;
let video = null;
let noticeTimer = null;
let follow = null;

// ---- rendering --------------------------------------------------------------------------

function renderRoom() {
  const { room } = roomState();
  const title = $('room-title');
  const status = $('room-status');
  const host = $('room-host');
  if (fatal === 4404) {
    setText(title, 'viewer.not_found');
    setText(status, 'viewer.not_found_hint');
    host.textContent = '';
    $('live-badge').hidden = true;
    return;
  }
  if (!room) return;
  title.removeAttribute('data-i18n');
  title.textContent = room.title;
  document.title = `${room.title} · livecommerce`;
  if (room.host && room.host.name) setText(host, 'viewer.hosted_by', { name: room.host.name });
  $('live-badge').hidden = room.state !== 'live';
  document.body.dataset.roomState = room.state;
  if (room.state === 'live') {
    setText(status, 'viewer.status.live');
  } else if (room.state === 'ended') {
    setText(status, 'viewer.status.ended');
  } else if (room.scheduled_at) {
    setText(status, 'viewer.status.scheduled_at', { time: formatDateTime(room.scheduled_at) });
  } else {
    setText(status, 'viewer.status.soon');
  }
  if (follow) follow.render();
}

function renderViewers() {
  const text = $('viewer-count-text');
  const { viewers } = roomState();
  if (viewers == null) {
    $('viewer-count').hidden = true;
    return;
  }
  $('viewer-count').hidden = false;
  $('viewer-count-number').textContent = formatNumber(viewers);
  text.textContent = tn('viewers.count', viewers);
}

function renderAccount() {
  const button = $('account-button');
  const user = getToken() ? getUser() : null;
  button.classList.toggle('signed-in', Boolean(user));
  if (user) {
    setText($('account-label'), 'auth.sign_out');
    button.title = t('auth.sign_out_named', { name: user.display_name || user.username || '' });
  } else {
    setText($('account-label'), 'auth.sign_in');
    button.title = t('auth.sign_in');
  }
}

function renderCompose() {
  const { you, room } = roomState();
  const signedIn = Boolean(getToken()) && you && you.role !== 'guest';
  $('chat-form').hidden = !signedIn;
  $('chat-signin').hidden = signedIn;
  // Signed-in people may report other people's lines (chat.js draws the buttons).
  $('chat-log').classList.toggle('can-report', Boolean(signedIn));
  const input = $('chat-input');
  const send = $('chat-send');
  if (!signedIn) return;
  const ended = room && room.state === 'ended';
  const can = Boolean(you.can_chat) && !ended;
  input.disabled = !can;
  send.disabled = !can;
  const key = can ? 'chat.placeholder' : ended ? 'chat.ended' : 'chat.cannot_chat';
  input.setAttribute('data-i18n-placeholder', key);
  input.placeholder = t(key);
}

function renderHeartTotal() {
  const { reactions } = roomState();
  $('heart-total').textContent = reactions ? formatNumber(reactions) : '';
}

function renderAll() {
  renderRoom();
  renderViewers();
  renderAccount();
  renderCompose();
  renderHeartTotal();
  if (moderation) moderation.render();
  if (poll) poll.render();
}

// ---- notices next to the chat input -------------------------------------------------------

function showNotice(text) {
  clearInterval(noticeTimer);
  $('chat-status').textContent = text;
}

function showRateLimit(retryAfter, key = 'error.rate_limited') {
  clearInterval(noticeTimer);
  // Counting down quietly: only the first text is announced politely, later ticks update
  // the same line; the line clears when the wait is over.
  noticeTimer = countDown($('chat-status'), Number(retryAfter || 1), (left) => t(key, { seconds: formatSeconds(left) }));
}

function showServerError(msg) {
  if (msg.code === 'rate_limited') {
    // In slow mode a viewer's wait is the room's rule, not a flood: say so.
    const { you } = roomState();
    const slow = moderation.slowSeconds() > 0 && you && you.role === 'viewer';
    showRateLimit(msg.retry_after, slow ? 'error.slow_mode' : 'error.rate_limited');
    return;
  }
  const special = moderation.refusalText(msg);
  if (special) {
    showNotice(special);
    return;
  }
  const args = { detail: msg.message || '', seconds: formatSeconds(Number(msg.retry_after || 1)) };
  showNotice(errorSentence(msg.code, args, msg.message || msg.code || ''));
}

let connectionKey = null;

function showConnection(key, args) {
  const el = $('connection-status');
  connectionKey = key;
  if (!key) {
    el.hidden = true;
    clearText(el);
    return;
  }
  el.hidden = false;
  setText(el, key, args);
}

// ---- hearts -----------------------------------------------------------------------------

function spawnHearts(n) {
  if (reducedMotion.matches) return;
  const layer = $('hearts');
  const count = Math.min(n, 8);
  for (let i = 0; i < count; i += 1) {
    const heart = el('span', { class: 'floating-heart', text: '♥' });
    heart.style.setProperty('--drift', `${Math.round((Math.random() - 0.5) * 60)}px`);
    heart.style.setProperty('--delay', `${i * 120}ms`);
    heart.style.setProperty('--hue', `${330 + Math.round(Math.random() * 40)}`);
    heart.addEventListener('animationend', () => heart.remove());
    layer.append(heart);
  }
  // Keep the layer bounded if animations never end (hidden tab).
  while (layer.children.length > 40) layer.firstElementChild.remove();
}

// ---- socket -----------------------------------------------------------------------------

function wireClient() {
  // The client has folded each event into its roomState before these run.
  client.addEventListener('welcome', () => {
    chat.replace(roomState().chat);
    showConnection(null);
    renderAll();
    video.setRoom(roomState().room);
  });
  client.addEventListener('chat.message', ({ detail }) => chat.append(detail));
  client.addEventListener('chat.deleted', ({ detail }) => chat.remove(detail.id));
  client.addEventListener('room.state', () => {
    renderRoom();
    renderCompose();
    video.setRoom(roomState().room);
  });
  client.addEventListener('stream.state', ({ detail }) => video.setStream(detail.state));
  client.addEventListener('replay.ready', () => video.replayReady());
  // Events flowing again mean the server got over its trouble.
  for (const type of ['viewers', 'chat.message', 'reactions', 'room.state']) {
    client.addEventListener(type, () => {
      if (connectionKey === 'connection.unavailable') showConnection(null);
    });
  }
  client.addEventListener('viewers', renderViewers);
  client.addEventListener('reactions', ({ detail }) => {
    const hearts = Number((detail.counts || {}).heart || 0);
    renderHeartTotal();
    if (hearts > 0) spawnHearts(hearts);
  });
  // Refusals of Buy and checkout are shown on the product card (they come back `handled`).
  client.addEventListener('error', ({ detail }) => { if (!detail.handled) showServerError(detail); });
  client.addEventListener('unavailable', ({ detail }) => {
    showConnection('connection.unavailable', { seconds: formatSeconds(Number(detail.retry_after || 1)) });
  });
  client.addEventListener('status', ({ detail }) => {
    if (detail.state === 'open') {
      showConnection(null);
    } else if (detail.state === 'reconnecting') {
      showConnection('connection.reconnecting');
    } else if (detail.state === 'closed') {
      onClosed(detail.code);
    }
  });
  markConnection(client);
}

function onClosed(code) {
  if (code === 1000) return;
  if (code === 4401) {
    // The stored token is no longer good: forget it and watch as a guest.
    signOut();
    return;
  }
  if (code === 4404) {
    fatal = 4404;
    renderRoom();
    showConnection(null);
    return;
  }
  if (code === 4410) {
    client.apply({ type: 'room.state', state: 'ended' });
    video.setRoom(roomState().room);
    renderRoom();
    renderCompose();
    showConnection(null);
    return;
  }
  if (code === 4403) {
    showConnection('connection.forbidden');
    return;
  }
  showConnection('connection.closed');
}

// ---- actions ----------------------------------------------------------------------------

async function sendChat(event) {
  event.preventDefault();
  const input = $('chat-input');
  if (await sendLine(client, input, showNotice)) input.focus();
}

function react() {
  client.send('react', { kind: 'heart' });
  const button = $('heart-button');
  button.classList.remove('pop');
  // Restart the pop animation on every tap.
  void button.offsetWidth;
  button.classList.add('pop');
}

async function loadRoom() {
  try {
    const room = await api(`${API_BASE}/rooms/${encodeURIComponent(roomId)}`, { auth: false });
    beforeJoin = reduce(beforeJoin, { type: 'room', room });
  } catch (err) {
    if (err.status === 404) fatal = 4404;
    else showConnection('connection.error', { detail: errorText(err) });
  }
  renderRoom();
}

async function main() {
  adoptTokenFromHash();
  await initI18n();
  auth = await setupAuthSheet();
  moderation = setupViewerModeration({ getClient: () => client, getState: roomState, showNotice });
  chat = new ChatView($('chat-log'), {
    hostId: () => { const { room } = roomState(); return room && room.host && room.host.id; },
    selfId: () => { const { you } = roomState(); return you && you.id; },
    decorate: moderation.decorate,
    newPill: $('chat-new'),
  });
  renderAll();

  wireAccountButton($('account-button'), auth);
  $('chat-signin-button').addEventListener('click', () => auth.open('signin'));
  shop = setupShop({
    getClient: () => client,
    getState: roomState,
    signedIn: () => { const { you } = roomState(); return Boolean(getToken()) && Boolean(you) && you.role !== 'guest'; },
    openSignIn: () => auth.open('signin'),
  });
  setupProductDetails({ getClient: () => client, getState: roomState });
  setupViewerReviews({ openSignIn: () => auth.open('signin') });
  auction = setupViewerAuction({
    roomId,
    getClient: () => client,
    getState: roomState,
    signedIn: () => { const { you } = roomState(); return Boolean(getToken()) && Boolean(you) && you.role !== 'guest'; },
    openSignIn: () => auth.open('signin'),
    payOrder: (due) => shop.payOrder(due),
  });
  giveaway = setupViewerGiveaway({
    roomId,
    getClient: () => client,
    getState: roomState,
    signedIn: () => { const { you } = roomState(); return Boolean(getToken()) && Boolean(you) && you.role !== 'guest'; },
    openSignIn: () => auth.open('signin'),
  });
  poll = setupViewerPoll({
    getClient: () => client,
    getState: roomState,
    signedIn: () => { const { you } = roomState(); return Boolean(getToken()) && Boolean(you) && you.role !== 'guest'; },
    openSignIn: () => auth.open('signin'),
  });
  groupBuy = setupViewerGroupBuy({
    getClient: () => client,
    signedIn: () => { const { you } = roomState(); return Boolean(getToken()) && Boolean(you) && you.role !== 'guest'; },
    openSignIn: () => auth.open('signin'),
    joinWithCard: (due) => shop.payOrder(due),
  });
  video = setupViewerVideo({
    roomId,
    getToken,
    onReplayPin: (product) => {
      shop.replay(product);
      auction.replay();
      giveaway.replay();
      poll.replay();
    },
    getReplayLots: () => Object.values(roomState().auctions.lots),
  });
  follow = setupViewerFollow({ roomId, getState: roomState, openSignIn: () => auth.open('signin') });
  $('chat-form').addEventListener('submit', sendChat);
  $('heart-button').addEventListener('click', react);
  window.addEventListener('lc:languagechange', renderAll);
  window.addEventListener('lc:session', () => {
    renderAccount();
    if (client && fatal == null) client.connect({ token: getToken(), fresh: true });
  });

  await Promise.all([verifySession(), loadRoom()]);
  renderAccount();
  if (fatal == null) await follow.load();
  moderation.render();
  if (fatal != null) return;
  video.setRoom(roomState().room);
  client = new RoomClient(roomId, { token: getToken(), state: beforeJoin });
  wireClient();
  shop.attach(client);
  auction.attach(client);
  giveaway.attach(client);
  poll.attach(client);
  groupBuy.attach(client);
  moderation.attach(client);
  client.connect();
  window.lcRoomClient = client; // handy for debugging from the console
}

main();
