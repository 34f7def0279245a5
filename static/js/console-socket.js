// The console's side of the room socket: the client folds room events into its roomState
// (which the desk reads through); these listeners bring the moderation standing along and
// draw the views. `view` holds what console.js owns (the lists, the head, the page's mode).

import { renderPinned } from './console-chat.js';
import { describeError, toast } from './console-feedback.js';
import { isHost } from './console-common.js';
import { $, markConnection } from './dom.js';
import { setText } from './i18n.js';

export function wireRoomEvents(client, desk, view) {
  const {
    chat, reports, settings, person, lots, renderHead, refreshSoon, checkRights, setMode, signOut,
  } = view;

  // Removed (or appointed again): ask the server, which also knows about operators.
  function onModerators(list) {
    desk.moderators = new Set(list || []);
    chat.refreshPeople();
    reports.render();
    person.refresh();
    const mine = isHost(desk, desk.me) || desk.moderators.has(desk.me);
    if ((!mine && desk.mode === 'ok') || (mine && desk.mode !== 'ok')) checkRights().catch(() => {});
  }

  client.addEventListener('welcome', () => {
    desk.slow = Number((desk.room && desk.room.slow_s) || 0);
    chat.replace(client.roomState.chat);
    renderPinned(desk, desk.pinned);
    settings.renderSlow();
    onModerators(desk.room ? desk.room.moderators : []);
    renderHead();
  });
  client.addEventListener('welcome', ({ detail }) => lots.fold(detail));
  for (const type of ['auction.queued', 'auction.started', 'auction.bid', 'auction.ended']) {
    client.addEventListener(type, ({ detail }) => lots.fold(detail));
  }
  // A void is audited: another moderator's shows in the log.
  client.addEventListener('auction.voided', ({ detail }) => {
    lots.fold(detail);
    if (desk.mode === 'ok') refreshSoon();
  });
  client.addEventListener('chat.message', ({ detail }) => chat.append(detail));
  client.addEventListener('chat.deleted', ({ detail }) => {
    chat.remove(detail.id);
    reports.lineDeleted(detail.id);
    renderPinned(desk, desk.pinned);
    refreshSoon();
  });
  for (const type of ['chat.pinned', 'chat.unpinned']) {
    client.addEventListener(type, () => {
      renderPinned(desk, desk.pinned);
      refreshSoon();
    });
  }
  client.addEventListener('room.slow', () => {
    desk.slow = Number((desk.room && desk.room.slow_s) || 0);
    settings.renderSlow();
    refreshSoon();
  });
  client.addEventListener('room.moderators', () => {
    onModerators(desk.room ? desk.room.moderators : []);
    refreshSoon();
  });
  for (const type of ['room.disclosure', 'room.state', 'viewers']) client.addEventListener(type, renderHead);
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
    if (detail.state === 'open') status.textContent = '';
    else if (detail.state === 'reconnecting') setText(status, 'connection.reconnecting');
    else if (detail.state === 'closed' && detail.code !== 1000) {
      if (detail.code === 4401) signOut();
      else if (detail.code === 4404) setMode('not_found');
      else if (detail.code === 4410) {
        client.apply({ type: 'room.state', state: 'ended' });
        renderHead();
        status.textContent = '';
      } else setText(status, 'connection.closed');
    }
  });
  markConnection(client);
}
