// Renders chat lines into a list. Text goes in with textContent only: a message is plain text
// and its markup is never interpreted.

import { byData, el, nearBottom, timeEl } from './dom.js';
import { formatNumber, formatTime, setText, t } from './i18n.js';

const MAX_LINES = 200;
const MAX_LENGTH = 500; // the server's limit, after trimming

// Sends the line typed in `input` as `chat.send`; `notice(text)` tells the writer what went
// wrong, or '' once it is sent. Refusals by the server arrive as `error` events, which the
// page shows. Resolves whether the line went to the server at all.
export async function sendLine(client, input, notice) {
  const text = input.value.trim();
  if (!text || !client) return false;
  if (text.length > MAX_LENGTH) {
    notice(t('chat.too_long', { max: formatNumber(MAX_LENGTH) }));
    return false;
  }
  // A line whose reply was lost is sent again with the same key, so it is in the room once.
  if (input.dataset.sentText !== text) {
    input.dataset.sentText = text;
    input.dataset.sentKey = newLineKey();
  }
  try {
    await client.request('chat.send', { text, key: input.dataset.sentKey });
    input.value = '';
    delete input.dataset.sentText;
    notice('');
  } catch (err) {
    if (err.code === 'disconnected' || err.code === 'timeout') notice(t('chat.not_sent'));
  }
  return true;
}

function newLineKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return 'c-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class ChatView {
  // `decorate(li, message)` may add controls to each line (the viewer's report button); give
  // them the class "chat-line-action" so a removed line loses them.
  // `newPill`, a button, is shown while the reader has scrolled up and lines arrived below;
  // pressing it goes back to the newest line.
  constructor(list, { hostId = () => null, selfId = () => null, decorate = null, newPill = null } = {}) {
    this.list = list;
    this.hostId = hostId;
    this.selfId = selfId;
    this.decorate = decorate;
    this.pill = newPill;
    // Following the newest line until the reader scrolls up. The log's box changes size
    // after it is filled (the product card, the pinned line and fonts arrive later), so the
    // newest line is kept in view on every resize, not only when lines are added.
    this.following = true;
    this.list.addEventListener('scroll', () => {
      if (this._programmatic) return;
      this.following = this._nearBottom();
      if (this.following) this._showPill(false);
    }, { passive: true });
    if (typeof ResizeObserver === 'function') {
      this.resizes = new ResizeObserver(() => { if (this.following) this.toNewest(); });
      this.resizes.observe(this.list);
    }
    if (this.pill) this.pill.addEventListener('click', () => { this.toNewest(); this.list.focus(); });
  }

  // Scroll to the newest line and follow from now on.
  toNewest() {
    this.following = true;
    this._showPill(false);
    this._programmatic = true;
    this.list.scrollTop = this.list.scrollHeight;
    // The scroll event of this jump comes after this turn; it must not read as the reader's.
    requestAnimationFrame(() => { this._programmatic = false; });
  }

  _showPill(on) {
    if (this.pill) this.pill.hidden = !on;
  }

  _line(m) {
    const li = el('li', { class: 'chat-line' });
    if (m.id != null) li.dataset.id = String(m.id);
    const userId = m.user && m.user.id;
    if (userId != null && userId === this.selfId()) li.classList.add('mine');
    li.append(el('span', { class: 'chat-name', text: (m.user && m.user.name) || '?' }));

    if (userId != null && userId === this.hostId()) {
      const badge = el('span', { class: 'chat-badge' });
      setText(badge, 'chat.host_badge');
      li.append(' ', badge);
    }
    li.append(' ', el('span', { class: 'chat-text', text: String(m.text ?? '') }));
    if (m.at != null) li.append(' ', timeEl(m.at, formatTime(m.at), 'visually-hidden'));
    if (this.decorate) this.decorate(li, m);
    return li;
  }

  _nearBottom() {
    return nearBottom(this.list, 48);
  }

  replace(messages) {
    this.list.replaceChildren(...(messages || []).slice(-MAX_LINES).map((m) => this._line(m)));
    this.toNewest();
  }

  append(m) {
    if (m.id != null && byData(this.list, 'id', m.id)) return;
    this.list.append(this._line(m));
    while (this.list.children.length > MAX_LINES) this.list.firstElementChild.remove();
    const mine = m.user && m.user.id != null && m.user.id === this.selfId();
    if (this.following || mine) this.toNewest();
    else this._showPill(true);
  }

  remove(id) {
    const li = byData(this.list, 'id', id);
    if (!li) return;
    const text = li.querySelector('.chat-text');
    const focused = li.contains(document.activeElement);
    li.classList.add('deleted');
    if (text) setText(text, 'chat.deleted');
    for (const action of li.querySelectorAll('.chat-line-action')) action.remove();
    if (focused) this.list.focus();
  }
}
