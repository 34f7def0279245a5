// The console's live chat: every line with its author (opens the user panel) and one-click
// tools: delete, time out (a choice of lengths), ban or unban, pin. Text goes in with
// textContent only: a chat line is plain text, never markup.

import {
  canActOn, isHost, nameOf, remember, standingOf, timeElement, timeoutButtons,
} from './console-common.js';
import { byData, el, nearBottom } from './dom.js';
import { setText, t } from './i18n.js';

const MAX_LINES = 300;

function actionButton(key, act, className = 'small-button') {
  const button = el('button', { class: className });
  button.type = 'button';
  button.dataset.act = act;
  setText(button, key);
  return button;
}

export class ModChat {
  // onAction(type, fields, {button, line}) runs a tool; onPerson(user) opens the user panel.
  constructor(list, { desk, onAction, onPerson, empty }) {
    this.list = list;
    this.desk = desk;
    this.onAction = onAction;
    this.onPerson = onPerson;
    this.empty = empty;
    this.messages = new Map(); // id -> message, for the lines on screen
  }

  _find(id) {
    return byData(this.list, 'id', id);
  }

  _line(m) {
    const user = m.user || {};
    remember(this.desk, user);
    const li = el('li', { class: 'mod-line' });
    li.dataset.id = String(m.id);
    li.dataset.userId = String(user.id || '');
    const textId = `line-text-${m.id}`;

    const head = el('div', { class: 'mod-line-head' });
    const author = el('button', { class: 'mod-author', text: user.name || '?' });
    author.type = 'button';
    author.setAttribute('aria-haspopup', 'dialog');
    author.addEventListener('click', () => this.onPerson(user));
    head.append(author, el('span', { class: 'mod-badges' }));
    if (m.at != null) head.append(timeElement(m.at));

    const text = el('p', { class: 'mod-text', text: String(m.text ?? '') });
    text.id = textId;

    const actions = el('div', { class: 'mod-actions' });
    actions.setAttribute('role', 'group');
    actions.setAttribute('aria-label', t('console.chat.actions', { name: user.name || '?' }));
    actions.setAttribute('aria-describedby', textId);
    const run = (type, fields, button) => this.onAction(type, fields, { button, line: li });

    const del = actionButton('console.action.delete', 'delete', 'small-button danger');
    del.addEventListener('click', () => run('mod.delete', { message_id: m.id }, del));
    actions.append(del);

    if (canActOn(this.desk, user.id)) {
      const menu = el('details', { class: 'timeout-menu' });
      const summary = el('summary', { class: 'small-button' });
      setText(summary, 'console.action.timeout');
      const options = el('span', { class: 'timeout-options' });
      options.append(...timeoutButtons((seconds, button) => {
        menu.open = false;
        run('mod.timeout', { user_id: user.id, seconds }, button);
        summary.focus();
      }));
      menu.append(summary, options);
      menu.addEventListener('keydown', (event) => {
        if (event.key === 'Escape' && menu.open) {
          event.stopPropagation();
          menu.open = false;
          summary.focus();
        }
      });
      const ban = actionButton('console.action.ban', 'ban', 'small-button danger');
      ban.addEventListener('click', () => run('mod.ban', { user_id: user.id }, ban));
      const unban = actionButton('console.action.unban', 'unban');
      unban.addEventListener('click', () => run('mod.unban', { user_id: user.id }, unban));
      const lift = actionButton('console.action.lift_timeout', 'lift');
      lift.addEventListener('click', () => run('mod.untimeout', { user_id: user.id }, lift));
      actions.append(menu, lift, ban, unban);
    }

    const pin = actionButton('console.action.pin', 'pin');
    pin.addEventListener('click', () => run('mod.pin_chat', { message_id: m.id }, pin));
    actions.append(pin);

    li.append(head, text, actions);
    this._standing(li);
    return li;
  }

  // Badges (host, moderator, you, banned, timed out) and the tools follow the author's
  // standing: Ban for anyone not banned, Unban for the banned, Lift the time-out while one runs.
  _standing(li) {
    const userId = li.dataset.userId;
    const badges = li.querySelector('.mod-badges');
    const { banned, until } = standingOf(this.desk, userId);
    const keys = [];
    if (isHost(this.desk, userId)) keys.push(['chat.host_badge', 'host']);
    else if (this.desk.moderators.has(userId)) keys.push(['console.badge.moderator', 'moderator']);
    if (userId && userId === this.desk.me) keys.push(['console.badge.you', 'you']);
    if (banned) keys.push(['console.badge.banned', 'banned']);
    else if (until) keys.push(['console.badge.timed_out', 'timed-out']);
    badges.replaceChildren(...keys.map(([key, kind]) => {
      const badge = el('span', { class: `mod-badge ${kind}` });
      setText(badge, key);
      return badge;
    }));
    const ban = li.querySelector('[data-act="ban"]');
    const unban = li.querySelector('[data-act="unban"]');
    const lift = li.querySelector('[data-act="lift"]');
    if (ban && unban && lift) {
      ban.hidden = banned;
      unban.hidden = !banned;
      lift.hidden = banned || !until;
    }
  }

  _updateEmpty() {
    if (this.empty) this.empty.hidden = this.list.children.length > 0;
  }

  replace(messages) {
    this.messages.clear();
    const recent = (messages || []).slice(-MAX_LINES);
    for (const m of recent) this.messages.set(String(m.id), m);
    this.list.replaceChildren(...recent.map((m) => this._line(m)));
    this.list.scrollTop = this.list.scrollHeight;
    this._updateEmpty();
  }

  append(m) {
    if (m.id == null || this._find(m.id)) return;
    const near = nearBottom(this.list, 64);
    this.messages.set(String(m.id), m);
    this.list.append(this._line(m));
    while (this.list.children.length > MAX_LINES) {
      this.messages.delete(this.list.firstElementChild.dataset.id);
      this.list.firstElementChild.remove();
    }
    if (near) this.list.scrollTop = this.list.scrollHeight;
    this._updateEmpty();
  }

  // The line stays in place, marked removed, so the moderator sees where it was.
  remove(id) {
    const li = this._find(id);
    if (!li || li.classList.contains('deleted')) return;
    const focusWasInside = li.contains(document.activeElement);
    li.classList.add('deleted');
    setText(li.querySelector('.mod-text'), 'chat.deleted');
    li.querySelector('.mod-actions').remove();
    if (focusWasInside) li.querySelector('.mod-author').focus();
  }

  // Standing or roles changed: refresh every line (and its buttons) in place.
  refreshPeople() {
    for (const li of this.list.children) {
      if (!li.classList.contains('deleted')) this._standing(li);
    }
  }

  // A new language: the lines are built again (their names of durations come from Intl).
  rerender() {
    const deleted = [...this.list.querySelectorAll('.mod-line.deleted')].map((li) => li.dataset.id);
    const top = this.list.scrollTop;
    this.list.replaceChildren(...[...this.messages.values()].map((m) => this._line(m)));
    for (const id of deleted) this.remove(id);
    this.list.scrollTop = top;
  }

  message(id) {
    return this.messages.get(String(id)) || null;
  }
}

// The pinned line above the chat, with Unpin.
export function renderPinned(desk, pinned) {
  const box = document.getElementById('console-pinned');
  box.hidden = !pinned;
  if (!pinned) return;
  remember(desk, pinned.user);
  const user = pinned.user || {};
  document.getElementById('console-pinned-name').textContent = nameOf(desk, user.id, user.name);
  document.getElementById('console-pinned-text').textContent = String(pinned.text ?? '');
}
