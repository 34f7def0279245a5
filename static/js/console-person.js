// The user panel: one person in this room (GET /people/{user_id}): whether they are banned
// or timed out, with the tools to change that, their bids on the running auction lot (from
// the lot panel's log, with "Void bids"), their recent messages and their orders here.

import { api, API_BASE } from './api.js';
import {
  canActOn, isHost, nameOf, remember, timeElement, timeoutButtons,
} from './console-common.js';
import { $, closeOnBackdrop, el } from './dom.js';
import { formatPrice, formatWhen, setText, t, tn } from './i18n.js';

export function setupPersonPanel({ desk, act, describeError, lots }) {
  const dialog = $('person-sheet');
  const error = $('person-error');
  let person = null; // {id, name, data}
  let opener = null;

  function renderStanding() {
    const data = person.data;
    const standing = $('person-standing');
    const now = Date.now();
    const until = data && data.timed_out_until > now ? data.timed_out_until : 0;
    if (!data) setText(standing, 'viewer.loading');
    else if (isHost(desk, person.id)) setText(standing, 'console.person.host');
    else if (data.moderator || desk.moderators.has(person.id)) setText(standing, 'console.person.moderator');
    else if (data.banned) setText(standing, 'console.person.banned');
    else if (until) setText(standing, 'console.person.timed_out', { time: formatWhen(until) });
    else setText(standing, 'console.person.ok');

    const actOn = Boolean(data) && canActOn(desk, person.id);
    $('person-actions').hidden = !actOn;
    $('person-unban').hidden = !(data && data.banned);
    $('person-lift').hidden = !(data && !data.banned && until);
    $('person-ban').hidden = !(data && !data.banned);
    $('person-timeout').hidden = !(data && !data.banned);
  }

  function renderMessages() {
    const messages = (person.data && person.data.messages) || [];
    $('person-messages-empty').hidden = !person.data || messages.length > 0;
    $('person-messages').replaceChildren(...messages.map((m) => {
      const li = el('li', { class: 'person-message' });
      if (m.at != null) li.append(timeElement(m.at), ' ');
      li.append(el('span', { class: 'person-message-text', text: String(m.text ?? '') }));
      return li;
    }));
  }

  // Holds name their sale; the console knows the room's sales from the socket.
  function renderHolds() {
    const holds = (person.data && person.data.holds) || [];
    $('person-holds-empty').hidden = !person.data || holds.length > 0;
    $('person-holds').replaceChildren(...holds.map((h) => {
      const sale = desk.sales[h.sale_id] || null;
      const li = el('li', { class: 'person-order' });
      const item = t('shop.checkout.item', { quantity: h.quantity, title: sale ? sale.title : h.sale_id });
      const head = el('p', { class: 'person-order-head' });
      head.append(el('span', { class: 'person-order-items', text: item }));
      if (sale) head.append(el('span', { class: 'person-order-amount', text: formatPrice(sale.price * h.quantity, sale.currency) }));
      const meta = el('p', { class: 'person-order-meta' });
      setText(meta, 'console.person.held_until', { time: formatWhen(h.expires_at) });
      li.append(head, meta);
      return li;
    }));
  }

  function renderOrders() {
    const orders = (person.data && person.data.orders) || [];
    $('person-orders-empty').hidden = !person.data || orders.length > 0;
    $('person-orders').replaceChildren(...orders.map((o) => {
      const li = el('li', { class: 'person-order' });
      const head = el('p', { class: 'person-order-head' });
      const items = (o.lines || []).map((l) => t('shop.checkout.item', { quantity: l.quantity, title: l.title }));
      head.append(el('span', { class: 'person-order-items', text: items.join(', ') }),
        el('span', { class: 'person-order-amount', text: formatPrice(o.amount, o.currency) }));
      const meta = el('p', { class: 'person-order-meta' });
      const state = el('span', { class: `person-order-state ${o.state}` });
      const key = `console.order.${o.state}`;
      if (t(key) !== key) setText(state, key);
      else state.textContent = String(o.state);
      meta.append(state, ' · ', el('span', { class: 'order-id', text: String(o.id) }));
      if (o.created_at != null) meta.append(' · ', timeElement(o.created_at));
      li.append(head, meta);
      return li;
    }));
  }

  // Staff may void a person's bids only while they still count on the running lot.
  function renderLotBids() {
    const count = canActOn(desk, person.id) ? lots.standingBids(person.id) : 0;
    $('person-lot').hidden = !count;
    if (count) {
      $('person-lot-text').textContent = tn('console.lot.person_bid_count', count, { title: lots.runningTitle() });
    }
  }

  function render() {
    if (!person) return;
    $('person-name').textContent = nameOf(desk, person.id, person.name);
    renderStanding();
    renderLotBids();
    renderMessages();
    renderHolds();
    renderOrders();
  }

  async function load() {
    const id = person.id;
    try {
      const data = await api(`${API_BASE}/rooms/${encodeURIComponent(desk.roomId)}/people/${encodeURIComponent(id)}`);
      if (!person || person.id !== id) return;
      for (const m of data.messages || []) remember(desk, m.user);
      person.data = data;
      error.textContent = '';
    } catch (err) {
      if (!person || person.id !== id) return;
      error.textContent = describeError(err);
    }
    render();
  }

  async function run(type, fields, button) {
    error.textContent = '';
    if (button) button.disabled = true;
    try {
      await act(type, { user_id: person.id, ...fields }, { name: nameOf(desk, person.id, person.name) });
      await load();
    } catch (err) {
      error.textContent = describeError(err);
    } finally {
      if (button) button.disabled = false;
      // Keep the keyboard in the panel when the button pressed has gone away.
      if (dialog.open && (!document.activeElement || document.activeElement === document.body
          || document.activeElement.closest('[hidden]'))) {
        $('person-close').focus();
      }
    }
  }

  const timeoutBox = $('person-timeout');
  timeoutBox.append(...timeoutButtons((seconds, button) => run('mod.timeout', { seconds }, button)));
  $('person-ban').addEventListener('click', (e) => run('mod.ban', {}, e.currentTarget));
  $('person-unban').addEventListener('click', (e) => run('mod.unban', {}, e.currentTarget));
  $('person-lift').addEventListener('click', (e) => run('mod.untimeout', {}, e.currentTarget));
  $('person-void').addEventListener('click', (e) => {
    lots.askVoid({ id: person.id, name: nameOf(desk, person.id, person.name) }, e.currentTarget, {
      fallback: $('person-close'),
    });
  });
  $('person-close').addEventListener('click', () => dialog.close());
  closeOnBackdrop(dialog);
  dialog.addEventListener('close', () => {
    person = null;
    if (opener && document.contains(opener)) opener.focus();
  });

  return {
    open(user) {
      if (!user || !user.id) return;
      remember(desk, user);
      opener = document.activeElement;
      person = { id: user.id, name: user.name || '', data: null };
      error.textContent = '';
      render();
      if (!dialog.open) dialog.showModal();
      $('person-close').focus();
      load();
    },
    // Standing changed elsewhere (a tool used from the chat): read it again.
    refresh() {
      if (person) load();
    },
    // The running lot's bids were read again: whether "Void bids" still applies.
    lotChanged() {
      if (person) renderLotBids();
    },
    rerender() {
      if (!person) return;
      timeoutBox.querySelectorAll('button').forEach((b) => b.remove());
      timeoutBox.append(...timeoutButtons((seconds, button) => run('mod.timeout', { seconds }, button)));
      render();
    },
    close() {
      if (dialog.open) dialog.close();
    },
  };
}
