// The moderator console: /rooms/{room_id}/console.
//
// Signs in like the other pages, checks the person moderates the room (GET /moderation:
// the host, its moderators and operators may; anyone else sees "you do not moderate this
// show"), joins the room's socket for the live chat, pinned line, slow mode and reports, and
// uses the tools through the socket (over HTTP while the socket is down). The lot panel
// follows the room's auction lots and lets staff void a person's bids. A `forbidden` answer
// sends the console back to the server to ask whether the person still moderates here.

import { api, API_BASE, getToken } from './api.js';
import {
  adoptTokenFromHash, renderAccountHeader, setupAuthSheet, signOut, verifySession, wireAccountButton,
} from './auth.js';
import { setupLotPanel } from './console-auction.js';
import { AuditLog } from './console-audit.js';
import { ModChat, renderPinned } from './console-chat.js';
import { nameOf } from './console-common.js';
import { describeError, doneText, hideToast, toast } from './console-feedback.js';
import { setupPersonPanel } from './console-person.js';
import { ReportQueue } from './console-reports.js';
import { setupSettings } from './console-settings.js';
import { wireRoomEvents } from './console-socket.js';
import { $ } from './dom.js';
import { initI18n, setText, t, tn } from './i18n.js';
import { RoomClient } from './room-client.js';
import { initialState, reduce } from './room-state.js';

const parts = location.pathname.replace(/\/+$/, '').split('/');
const roomId = decodeURIComponent(parts[parts.length - 2] || '');
const roomPath = `${API_BASE}/rooms/${encodeURIComponent(roomId)}`;
const REFRESH_DELAY_MS = 300;
const POLL_MS = 60000; // a fallback: other moderators' actions arrive as `mod.action`

let client = null;
// The room as read over HTTP until the socket joins; from then on the client's roomState.
let beforeJoin = initialState();
const roomState = () => (client ? client.roomState : beforeJoin);

// The console's state: the room's own (room-state.js) read through, and the moderation
// standing the moderation API reports (bans, time-outs, slow mode), which events nudge.
const desk = {
  roomId,
  get room() { return roomState().room; },
  get me() { const { you } = roomState(); return you ? you.id : null; },
  get viewers() { return roomState().viewers; },
  get pinned() { return roomState().pinnedChat; },
  get sales() { return roomState().sales; }, // the room's sales by id, to name what a person holds
  moderators: new Set(),
  banned: new Set(),
  timeouts: new Map(),
  names: new Map(),
  slow: 0,
  mode: 'loading', // loading | signin | forbidden | removed | not_found | ok
  wasModerator: false,
};

let chat;
let reports;
let audit;
let person;
let settings;
let lots;
let startedToken;
let refreshTimer = null;
let pollTimer = null;

// ---- the page's state: signed out, not a moderator, or at work ---------------------------

const GATES = {
  signin: ['console.gate.signin_heading', 'console.gate.signin_text'],
  forbidden: ['console.gate.forbidden_heading', 'console.gate.forbidden_text'],
  removed: ['console.gate.forbidden_heading', 'console.gate.removed_text'],
  not_found: ['viewer.not_found', 'viewer.not_found_hint'],
};

function setMode(mode) {
  desk.mode = mode;
  document.body.dataset.mode = mode;
  $('workspace').hidden = mode !== 'ok';
  const gate = GATES[mode];
  $('gate').hidden = !gate;
  if (gate) {
    setText($('gate-heading'), gate[0]);
    setText($('gate-text'), gate[1]);
    $('gate-signin').hidden = mode !== 'signin';
    $('gate-watch').hidden = mode === 'not_found';
  }
  if (mode !== 'ok') {
    person.close();
    hideToast();
    clearInterval(pollTimer);
    pollTimer = null;
  }
}

function renderHead() {
  const room = desk.room;
  const viewerHref = `/rooms/${encodeURIComponent(roomId)}`;
  $('show-link').href = viewerHref;
  $('gate-watch').href = viewerHref;
  if (!room) return;
  const title = $('room-title');
  title.removeAttribute('data-i18n');
  title.textContent = room.title;
  document.title = `${room.title} · ${t('console.section')}`;
  const badge = $('room-state');
  badge.hidden = false;
  badge.className = `state-badge ${room.state}`;
  setText(badge, `room.state.${room.state}`);
  $('paid-label').hidden = !room.paid_partnership;
  const count = $('viewer-count');
  count.textContent = desk.viewers == null ? '' : tn('viewers.count', desk.viewers);
}

function renderAll() {
  renderAccountHeader();
  renderHead();
  if (desk.mode in GATES) setMode(desk.mode);
  chat.rerender();
  reports.render();
  audit.render();
  settings.rerender();
  lots.rerender();
  person.rerender();
  renderPinned(desk, desk.pinned);
}

// ---- reading the room's moderation state -------------------------------------------------

async function loadModeration() {
  const data = await api(`${roomPath}/moderation`);
  desk.moderators = new Set(data.moderators || []);
  desk.banned = new Set(data.banned || []);
  desk.timeouts = new Map(Object.entries(data.timeouts || {}).map(([k, v]) => [k, Number(v)]));
  desk.slow = Number(data.slow_s || 0);
  settings.setWords(data.words || []);
  settings.renderSlow();
  chat.refreshPeople();
  reports.render();
  return data;
}

// Whether this person moderates the room now; switches the page to the matching state.
async function checkRights() {
  try {
    await loadModeration();
  } catch (err) {
    if (err.status === 403) {
      setMode(desk.wasModerator ? 'removed' : 'forbidden');
      return false;
    }
    if (err.status === 401) {
      signOut();
      return false;
    }
    if (err.status === 404) {
      setMode('not_found');
      return false;
    }
    throw err;
  }
  if (desk.mode !== 'ok') enterWorkspace();
  return true;
}

async function loadReports() {
  const { reports: open } = await api(`${roomPath}/reports`);
  reports.replace(open);
}

async function refreshNow({ all = false } = {}) {
  if (desk.mode !== 'ok') return;
  const jobs = [audit.load(), loadReports()];
  if (all) jobs.push(loadModeration());
  try {
    await Promise.all(jobs);
    for (const id of audit.resolvedReportIds()) reports.resolved(id);
  } catch (err) {
    if (err.status === 403) checkRights().catch(() => {});
  }
}

function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => refreshNow(), REFRESH_DELAY_MS);
}

function enterWorkspace() {
  desk.wasModerator = true;
  setMode('ok');
  refreshNow();
  clearInterval(pollTimer);
  pollTimer = setInterval(() => {
    if (document.visibilityState === 'visible') refreshNow({ all: true });
  }, POLL_MS);
  connect();
}

// ---- the tools ----------------------------------------------------------------------------

function applyAck(type, fields, ack) {
  const user = fields.user_id;
  if (type === 'mod.ban') {
    desk.banned.add(user);
    desk.timeouts.delete(user);
  } else if (type === 'mod.unban') {
    desk.banned.delete(user);
    desk.timeouts.delete(user);
  } else if (type === 'mod.untimeout') {
    desk.timeouts.delete(user);
  } else if (type === 'mod.timeout' && ack.until) {
    desk.timeouts.set(user, Number(ack.until));
  } else if (type === 'mod.resolve') {
    reports.resolved(fields.report_id);
  } else if (type === 'mod.delete') {
    chat.remove(fields.message_id);
    reports.lineDeleted(fields.message_id);
  } else if (type === 'mod.slow') {
    desk.slow = fields.seconds;
    settings.renderSlow();
  } else if (type === 'auction.void') {
    lots.refresh();
  }
  chat.refreshPeople();
  reports.render();
}

// A tool while the socket is down: the moderation tools share one route; a void is the lot's.
function overHttp(type, fields) {
  if (type === 'auction.void') {
    const { auction_id: auctionId, ...body } = fields;
    return api(`${API_BASE}/auctions/${encodeURIComponent(auctionId)}/void`, { method: 'POST', body });
  }
  return api(`${roomPath}/moderation`, { method: 'POST', body: { type, ...fields } });
}

// Runs one tool; resolves with its ack or rejects with the refusal, which is shown (in the
// toast, or by the caller with `quietErrors`). Through the socket when it is open, else HTTP.
async function act(type, fields = {}, { name = '', quietErrors = false } = {}) {
  try {
    const ack = client && client.state === 'open'
      ? await client.request(type, fields, { quiet: true })
      : await overHttp(type, fields);
    applyAck(type, fields, ack);
    toast(doneText(type, fields, ack, name || nameOf(desk, fields.user_id)), 'ok');
    return ack;
  } catch (err) {
    if (err.code === 'unauthorized') signOut();
    // A refusal for rights may mean this person no longer moderates here.
    if (err.code === 'forbidden' && !(await checkRights().catch(() => true))) throw err;
    if (!quietErrors) toast(describeError(err), 'error');
    throw err;
  } finally {
    refreshSoon();
  }
}

// A tool from a chat line or a report: keep the keyboard near when its button goes away.
async function actFromList(type, fields, { button }) {
  const holder = button && button.closest('li');
  if (button) button.disabled = true;
  try {
    await act(type, fields);
  } catch {
    // shown by act()
  } finally {
    if (button) button.disabled = false;
    const active = document.activeElement;
    if (holder && (!active || active === document.body || active.closest('[hidden]'))) {
      const stay = document.contains(holder) && [...holder.querySelectorAll('button, summary')]
        .find((b) => !b.closest('[hidden]') && !b.disabled);
      if (stay) stay.focus();
    }
  }
}

// ---- the socket ---------------------------------------------------------------------------

function connect() {
  if (client) {
    client.connect({ token: getToken(), fresh: true });
    return;
  }
  client = new RoomClient(roomId, { token: getToken(), state: beforeJoin });
  wireRoomEvents(client, desk, {
    chat, reports, settings, person, lots, renderHead, refreshSoon, checkRights, setMode, signOut,
  });
  client.connect();
  window.lcRoomClient = client; // handy for debugging from the browser's console
}

async function start() {
  startedToken = getToken();
  desk.wasModerator = false;
  audit.reset();
  if (!startedToken) {
    if (client) client.close();
    setMode('signin');
    return;
  }
  setMode('loading');
  try {
    // Joins the socket when the person moderates here; a viewer is not joined at all.
    if (!(await checkRights()) && client) client.close();
  } catch (err) {
    toast(describeError(err), 'error');
  }
}

async function loadRoom() {
  try {
    beforeJoin = reduce(beforeJoin, { type: 'room', room: await api(roomPath, { auth: false }) });
    renderHead();
  } catch (err) {
    if (err.status === 404) setMode('not_found');
  }
}

async function main() {
  adoptTokenFromHash();
  await initI18n();
  const auth = await setupAuthSheet();
  const onPerson = (user) => person.open(user);
  chat = new ModChat($('mod-chat'), { desk, onAction: actFromList, onPerson, empty: $('mod-chat-empty') });
  reports = new ReportQueue({ desk, onAction: actFromList, onPerson });
  lots = setupLotPanel({
    desk,
    act: (type, fields, opts) => act(type, fields, { ...opts, quietErrors: true }),
    describeError,
    serverNow: () => (client ? client.serverNow() : Date.now()),
    onPerson,
    onLogRead: () => person.lotChanged(),
    onLotsKnown: () => audit.render(), // a void's entry names its lot once the lot is known
  });
  desk.lotTitle = (auctionId) => lots.titleOf(auctionId);
  audit = new AuditLog({ desk, describeError });
  person = setupPersonPanel({
    desk,
    act: (type, fields, opts) => act(type, fields, { ...opts, quietErrors: true }),
    describeError,
    lots,
  });
  settings = setupSettings({
    desk,
    act: (type, fields, opts) => act(type, fields, { ...opts, quietErrors: type === 'mod.words' }),
    describeError,
  });
  renderHead();

  wireAccountButton($('account-button'), auth);
  $('gate-signin').addEventListener('click', () => auth.open('signin'));
  $('console-unpin').addEventListener('click', (e) => actFromList('mod.unpin_chat', {}, { button: e.currentTarget }));
  $('audit-refresh').addEventListener('click', () => refreshNow({ all: true }));
  $('audit-more').addEventListener('click', () => audit.more());
  $('toast-close').addEventListener('click', hideToast);
  window.addEventListener('lc:languagechange', renderAll);

  await Promise.all([verifySession(), loadRoom()]);
  renderAccountHeader();
  if (desk.mode === 'not_found') return;
  window.addEventListener('lc:session', () => {
    renderAccountHeader();
    if (getToken() !== startedToken) start();
  });
  await start();
}

main();
