// Renders chat lines into a list. Text goes in with textContent only: a message is plain text
// and its markup is never interpreted.

import { formatTime, setText } from './i18n.js';

const MAX_LINES = 200;

export class ChatView {
  // `decorate(li, message)` may add controls to each line (the viewer's report button); give
  // them the class "chat-line-action" so a removed line loses them.
  constructor(list, { hostId = () => null, selfId = () => null, decorate = null } = {}) {
    this.list = list;
    this.hostId = hostId;
    this.selfId = selfId;
    this.decorate = decorate;
  }

  _line(m) {
    const li = document.createElement('li');
    li.className = 'chat-line';
    if (m.id != null) li.dataset.id = String(m.id);
    const userId = m.user && m.user.id;
    if (userId != null && userId === this.selfId()) li.classList.add('mine');

    const name = document.createElement('span');
    name.className = 'chat-name';
    name.textContent = (m.user && m.user.name) || '?';
    li.append(name);

    if (userId != null && userId === this.hostId()) {
      const badge = document.createElement('span');
      badge.className = 'chat-badge';
      setText(badge, 'chat.host_badge');
      li.append(' ', badge);
    }

    const text = document.createElement('span');
    text.className = 'chat-text';
    text.textContent = String(m.text ?? '');
    li.append(' ', text);

    if (m.at != null) {
      const time = document.createElement('time');
      time.className = 'visually-hidden';
      time.dateTime = new Date(m.at).toISOString();
      time.textContent = formatTime(m.at);
      li.append(' ', time);
    }
    if (this.decorate) this.decorate(li, m);
    return li;
  }

  _nearBottom() {
    const l = this.list;
    return l.scrollHeight - l.scrollTop - l.clientHeight < 48;
  }

  _stick(wasNear) {
    if (wasNear) this.list.scrollTop = this.list.scrollHeight;
  }

  replace(messages) {
    this.list.replaceChildren(...(messages || []).slice(-MAX_LINES).map((m) => this._line(m)));
    this.list.scrollTop = this.list.scrollHeight;
  }

  append(m) {
    if (m.id != null && this.list.querySelector(`[data-id="${CSS.escape(String(m.id))}"]`)) return;
    const near = this._nearBottom();
    this.list.append(this._line(m));
    while (this.list.children.length > MAX_LINES) this.list.firstElementChild.remove();
    this._stick(near);
  }

  remove(id) {
    const li = this.list.querySelector(`[data-id="${CSS.escape(String(id))}"]`);
    if (!li) return;
    const text = li.querySelector('.chat-text');
    const focused = li.contains(document.activeElement);
    li.classList.add('deleted');
    if (text) setText(text, 'chat.deleted');
    for (const action of li.querySelectorAll('.chat-line-action')) action.remove();
    if (focused) this.list.focus();
  }
}
