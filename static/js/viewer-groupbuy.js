// The viewer's group-buy card: "2 of 3 joined, 04:12 left", the list price struck through,
// the group price and Join (docs/protocol.md, "Group buys"). Joining opens the checkout
// sheet (shop.js) with the group's price; the card then says the card is only charged if the
// group fills, and follows the joiner's own join: authorised, captured, voided.

import { api, API_BASE } from './api.js';
import { $ } from './dom.js';
import { formatClock, formatPrice, setText, t } from './i18n.js';

const TICK_MS = 250;

export function setupViewerGroupBuy({ getClient, signedIn, openSignIn, joinWithCard }) {
  const groups = new Map(); // id -> the group as last heard
  const mine = new Map(); // group id -> our own join
  let ticker = null;
  let noticeKey = null;

  const now = () => { const client = getClient(); return client ? client.serverNow() : Date.now(); };

  // The group to show: the newest still taking joins, else the one that closed last.
  function current() {
    const all = [...groups.values()].sort((a, b) => (b.starts_at || 0) - (a.starts_at || 0));
    return all.find((g) => g.state === 'open' || g.state === 'filled') || all[0] || null;
  }

  function progressText(group) {
    const left = formatClock(Math.max(0, group.ends_at - now()));
    const joined = Number(group.joined || 0);
    if (group.state === 'open') {
      return t('groupbuy.progress', { joined, needed: group.min_buyers, time: left });
    }
    if (group.state === 'filled') {
      return t('groupbuy.progress_filled', { joined, units: group.units_left, time: left });
    }
    return t(`groupbuy.ended.${group.end_reason || group.state}`, { joined });
  }

  function stateText(group, join) {
    if (!join) return null;
    if (join.state === 'authorised' && group.state === 'open') return 'groupbuy.you.authorised';
    if (join.state === 'authorised' || join.state === 'pending') return 'groupbuy.you.pending';
    if (join.state === 'captured') return 'groupbuy.you.captured';
    if (join.state === 'voided' && group.state === 'open') return null; // left: may join again
    if (join.state === 'voided' || join.state === 'cancelled') return 'groupbuy.you.voided';
    if (join.state === 'capture_failed') return 'groupbuy.you.capture_failed';
    return null;
  }

  function render() {
    const card = $('groupbuy-card');
    const group = current();
    card.hidden = !group;
    if (!group) return stop();
    card.dataset.state = group.state;
    card.dataset.groupId = group.id;
    const product = group.product || {};
    $('groupbuy-title').textContent = product.title || '';
    const image = $('groupbuy-image');
    image.hidden = !product.image_url;
    if (product.image_url) image.src = product.image_url;
    $('groupbuy-price').textContent = formatPrice(group.price, group.currency);
    $('groupbuy-was').textContent = formatPrice(group.list_price, group.currency);
    setText($('groupbuy-was-label'), 'groupbuy.list_price', { amount: formatPrice(group.list_price, group.currency) });
    $('groupbuy-progress').textContent = progressText(group);
    const share = Math.min(1, Number(group.joined || 0) / Math.max(1, group.min_buyers));
    $('groupbuy-bar-fill').style.width = `${Math.round(share * 100)}%`;
    const join = mine.get(group.id);
    const said = stateText(group, join);
    const badge = $('groupbuy-state');
    badge.hidden = !said;
    if (said) setText(badge, said);
    // Before it fills, an authorised joiner may leave: the card is released, the unit goes back.
    $('groupbuy-leave').hidden = !(join && join.state === 'authorised' && group.state === 'open');
    const open = group.state === 'open' || group.state === 'filled';
    const button = $('groupbuy-join');
    const live = join && ['pending', 'authorised', 'captured'].includes(join.state);
    button.hidden = !open || Boolean(live);
    button.disabled = open && Number(group.units_left) <= 0;
    setText(button, button.disabled ? 'groupbuy.sold_out' : 'groupbuy.join');
    const notice = $('groupbuy-notice');
    if (noticeKey) setText(notice, noticeKey.key, noticeKey.args);
    else notice.textContent = '';
    if (open && !ticker) ticker = setInterval(() => { $('groupbuy-progress').textContent = progressText(current() || group); }, TICK_MS);
    if (!open) stop();
    return undefined;
  }

  function stop() {
    if (ticker) clearInterval(ticker);
    ticker = null;
  }

  function notice(key, args) {
    noticeKey = key ? { key, args } : null;
    render();
  }

  function join() {
    const group = current();
    if (!group) return;
    if (!signedIn()) {
      notice('groupbuy.sign_in');
      openSignIn();
      return;
    }
    notice(null);
    joinWithCard({
      order: { id: group.id, amount: group.price, currency: group.currency },
      title: (group.product || {}).title || '',
      image_url: (group.product || {}).image_url || '',
      payKey: 'groupbuy.pay',
      hint: 'groupbuy.hint',
      submit: (body, key) => api(`${API_BASE}/group-buys/${encodeURIComponent(group.id)}/join`, {
        method: 'POST', body, headers: { 'Idempotency-Key': key },
      }),
      onPaid: (data) => {
        if (data && data.group) groups.set(data.group.id, { ...groups.get(data.group.id), ...data.group });
        if (data && data.join) mine.set(group.id, data.join);
        notice(null); // the card's badge says where the join stands
      },
    });
  }

  async function leave() {
    const group = current();
    if (!group) return;
    const button = $('groupbuy-leave');
    button.disabled = true;
    try {
      const data = await api(`${API_BASE}/group-buys/${encodeURIComponent(group.id)}/join`, { method: 'DELETE' });
      if (data && data.join) mine.set(group.id, data.join);
      if (data && data.group) groups.set(group.id, { ...group, ...data.group });
      notice('groupbuy.left');
    } catch (err) {
      notice(err.code === 'group_buy_not_open' ? 'groupbuy.error.too_late_to_leave' : 'error.generic');
    } finally {
      button.disabled = false;
    }
  }

  async function refreshMine(groupId) {
    try {
      const data = await api(`${API_BASE}/group-buys/${encodeURIComponent(groupId)}/join`);
      if (data && data.join) mine.set(groupId, data.join);
    } catch { /* not joined, or offline: the card shows what it knows */ }
  }

  $('groupbuy-join').addEventListener('click', join);
  $('groupbuy-leave').addEventListener('click', leave);
  window.addEventListener('lc:languagechange', render);

  return {
    render,
    attach(client) {
      client.addEventListener('welcome', ({ detail }) => {
        for (const g of detail.group_buys || []) groups.set(g.id, g);
        const you = detail.you || {};
        for (const [id, j] of Object.entries(you.group_joins || {})) mine.set(id, j);
        render();
      });
      client.addEventListener('groupbuy.started', ({ detail }) => {
        groups.set(detail.group.id, detail.group);
        notice(null);
      });
      client.addEventListener('groupbuy.progress', ({ detail }) => {
        const g = groups.get(detail.group_id);
        if (!g) return;
        groups.set(g.id, { ...g, joined: detail.joined, units_left: detail.units_left, state: detail.state || g.state });
        render();
      });
      client.addEventListener('groupbuy.filled', ({ detail }) => {
        const g = groups.get(detail.group_id);
        if (g && g.state === 'open') groups.set(g.id, { ...g, state: 'filled' });
        if (mine.has(detail.group_id)) refreshMine(detail.group_id).then(render);
        render();
      });
      client.addEventListener('groupbuy.ended', ({ detail }) => {
        const g = groups.get(detail.group_id);
        if (!g) return;
        const state = g.state === 'filled' || detail.reason === 'filled' || detail.reason === 'sold_out' ? 'ended' : detail.reason;
        groups.set(g.id, { ...g, state, end_reason: detail.reason, joined: detail.joined });
        render();
      });
      // Private: how our own payment ended.
      client.addEventListener('groupbuy.payment', ({ detail }) => {
        if (!detail.join) return;
        mine.set(detail.group_id, detail.join);
        noticeKey = null;
        render();
      });
    },
  };
}
