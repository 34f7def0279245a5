// The console's side of the room socket: room events update the desk (the console's state)
// and the views; `view` holds what console.js owns (the lists, the head, the page's mode).

import { renderPinned } from './console-chat.js';
import { describeError, toast } from './console-feedback.js';
import { isHost } from './console-common.js';
import { setText } from './i18n.js';

const $ = (id) => document.getElementById(id);

export function wireRoomEvents(client, desk, view) {
  const {
    chat, reports, settings, person, renderHead, refreshSoon, checkRights, setMode, signOut,
  } = view;

  // Removed (or appointed again): ask the server, which also knows about operators.
  function onModerators(list) {
    desk.moderators = new Set(list || []);
    if (desk.room) desk.room = { ...desk.room, moderators: [...desk.moderators] };
    chat.refreshPeople();
    reports.render();
    person.refresh();
    const mine = isHost(desk, desk.me) || desk.moderators.has(desk.me);
    if ((!mine && desk.mode === 'ok') || (mine && desk.mode !== 'ok')) checkRights().catch(() => {});
  }

  client.addEventListener('welcome', ({ detail }) => {
    desk.room = detail.room || desk.room;
    desk.me = detail.you ? detail.you.id : null;
    const v = detail.viewers;
    desk.viewers = typeof v === 'number' ? v : desk.viewers;
    desk.slow = Number((desk.room && desk.room.slow_s) || 0);
    desk.pinned = detail.pinned_chat || null;
    desk.sales = new Map((detail.sales || []).map((sale) => [sale.id, sale]));
    chat.replace(detail.chat || []);
    renderPinned(desk, desk.pinned);
    settings.renderSlow();
    onModerators(desk.room ? desk.room.moderators : []);
    renderHead();
    document.body.dataset.connection = 'joined';
  });
  client.addEventListener('chat.message', ({ detail }) => chat.append(detail));
  client.addEventListener('sale.started', ({ detail }) => {
    if (detail.sale) desk.sales.set(detail.sale.id, detail.sale);
  });
  client.addEventListener('chat.deleted', ({ detail }) => {
    chat.remove(detail.id);
    reports.lineDeleted(detail.id);
    if (desk.pinned && String(desk.pinned.id) === String(detail.id)) {
      desk.pinned = null;
      renderPinned(desk, null);
    }
    refreshSoon();
  });
  client.addEventListener('chat.pinned', ({ detail }) => {
    desk.pinned = detail.message || null;
    renderPinned(desk, desk.pinned);
    refreshSoon();
  });
  client.addEventListener('chat.unpinned', () => {
    desk.pinned = null;
    renderPinned(desk, null);
    refreshSoon();
  });
  client.addEventListener('room.slow', ({ detail }) => {
    desk.slow = Number(detail.seconds || 0);
    settings.renderSlow();
    refreshSoon();
  });
  client.addEventListener('room.moderators', ({ detail }) => {
    onModerators(detail.moderators);
    refreshSoon();
  });
  client.addEventListener('room.disclosure', ({ detail }) => {
    if (desk.room) desk.room = { ...desk.room, paid_partnership: Boolean(detail.paid_partnership) };
    renderHead();
  });
  client.addEventListener('room.state', ({ detail }) => {
    if (desk.room) desk.room = { ...desk.room, state: detail.state };
    renderHead();
  });
  client.addEventListener('viewers', ({ detail }) => {
    desk.viewers = detail.count;
    renderHead();
  });
  client.addEventListener('report.created', ({ detail }) => {
    if (desk.mode === 'ok') reports.add(detail.report);
  });
  // Another moderator acted (a ban, a time-out, the word list, a resolved report).
  client.addEventListener('mod.action', () => {
    if (desk.mode === 'ok') refreshSoon();
  });
  client.addEventListener('error', ({ detail }) => {
    if (!detail.handled && desk.mode === 'ok') toast(describeError({ ...detail, retryAfter: detail.retry_after }), 'error');
  });
  client.addEventListener('status', ({ detail }) => {
    const status = $('connection-status');
    if (detail.state !== 'open') document.body.dataset.connection = detail.state;
    else if (client.seq != null) document.body.dataset.connection = 'joined';
    if (detail.state === 'open') status.textContent = '';
    else if (detail.state === 'reconnecting') setText(status, 'connection.reconnecting');
    else if (detail.state === 'closed' && detail.code !== 1000) {
      if (detail.code === 4401) signOut();
      else if (detail.code === 4404) setMode('not_found');
      else if (detail.code === 4410) {
        if (desk.room) desk.room = { ...desk.room, state: 'ended' };
        renderHead();
        status.textContent = '';
      } else setText(status, 'connection.closed');
    }
  });
}
