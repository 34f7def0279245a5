// The studio's group buys: launch one (product, group price, buyers needed, units, duration)
// and watch each fill live: "2 of 3 joined · 04:12 left", then filled, then how it ended
// (docs/protocol.md, "Group buys"). Commands go over the studio's socket.

import { $, el, option, setStatus } from './dom.js';
import { errorSentence, formatClock, formatPrice, parseMajor, setText, t } from './i18n.js';

const TICK_MS = 500;
const MAX_MINOR = 10 ** 12;

export function setupStudioGroupBuy({ getClient, getRoom, getProducts, onStock }) {
  let groups = new Map();
  let ticker = null;
  let lastProduct = null;

  const now = () => { const client = getClient(); return client ? client.serverNow() : Date.now(); };

  function status(text, isError = false) {
    setStatus($('groupbuy-status'), text, isError);
  }

  function refusalText(err) {
    if (err.code === 'disconnected' || err.code === 'timeout') return t('chat.not_sent');
    if (err.code === 'room_not_live') return t('studio.sale.error.not_live');
    const key = `groupbuy.studio.error.${err.code}`;
    if (t(key) !== key) return t(key, { amount: err.list_price != null ? formatPrice(err.list_price, (getRoom() || {}).currency || 'EUR') : '', stock: err.stock });
    return errorSentence(err.code, { detail: err.message || '' }, err.message || err.code || '');
  }

  async function command(type, fields) {
    const client = getClient();
    if (!client) return null;
    try {
      return await client.request(type, fields, { quiet: true });
    } catch (err) {
      status(refusalText(err), true);
      return null;
    }
  }

  function fillProducts() {
    const select = $('groupbuy-product');
    const previous = select.value || lastProduct;
    const r = getRoom();
    const usable = getProducts().filter((p) => (!r || p.currency === r.currency) && Number(p.stock) > 1);
    select.replaceChildren(...usable.map((p) => option(p.id, `${p.title} · ${formatPrice(p.price, p.currency)}`)));
    if (previous && usable.some((p) => p.id === previous)) select.value = previous;
    const currency = r ? r.currency : (usable[0] && usable[0].currency);
    if (currency) setText($('groupbuy-price-label'), 'groupbuy.studio.price_in', { currency });
  }

  function whole(id, low, high) {
    const text = $(id).value.trim();
    if (!/^\d+$/.test(text)) return null;
    const n = Number(text);
    return n >= low && n <= high ? n : null;
  }

  async function launch(event) {
    event.preventDefault();
    const r = getRoom();
    if (!getClient() || !r) return;
    const form = $('groupbuy-form');
    for (const node of form.querySelectorAll('[aria-invalid]')) node.removeAttribute('aria-invalid');
    const fail = (id, key, args) => {
      status(t(key, args), true);
      $(id).setAttribute('aria-invalid', 'true');
      $(id).focus();
    };
    const product = getProducts().find((p) => p.id === $('groupbuy-product').value);
    if (!product) return fail('groupbuy-product', 'studio.sale.error.product');
    const price = parseMajor($('groupbuy-price').value, product.currency);
    if (price == null || price < 1 || price > MAX_MINOR) return fail('groupbuy-price', 'studio.error.price');
    if (price >= product.price) {
      return fail('groupbuy-price', 'groupbuy.studio.error.price_not_below_list', { amount: formatPrice(product.price, product.currency) });
    }
    const buyers = whole('groupbuy-buyers', 2, 100);
    if (buyers == null) return fail('groupbuy-buyers', 'studio.sale.error.range', { min: 2, max: 100 });
    const units = whole('groupbuy-units', buyers, 1000);
    if (units == null) return fail('groupbuy-units', 'studio.sale.error.range', { min: buyers, max: 1000 });
    const duration = whole('groupbuy-duration', 60, 3600);
    if (duration == null) return fail('groupbuy-duration', 'studio.sale.error.range', { min: 60, max: 3600 });
    const button = $('groupbuy-start');
    button.disabled = true;
    status('');
    lastProduct = product.id;
    const reply = await command('groupbuy.start', {
      product_id: product.id, price, min_buyers: buyers, units, duration_s: duration,
    });
    button.disabled = false;
    if (!reply) return;
    if (reply.group) groups.set(reply.group.id, reply.group);
    if (onStock) onStock();
    status(t('groupbuy.studio.started', { title: product.title }));
    render();
  }

  async function stopGroup(group) {
    status('');
    const reply = await command('groupbuy.stop', { group_id: group.id });
    if (reply && reply.group) {
      groups.set(group.id, reply.group);
      status(t('groupbuy.studio.stopped', { title: (group.product || {}).title || '' }));
      render();
    }
  }

  function line(group) {
    const left = formatClock(Math.max(0, group.ends_at - now()));
    const joined = Number(group.joined || 0);
    if (group.state === 'open') return t('groupbuy.progress', { joined, needed: group.min_buyers, time: left });
    if (group.state === 'filled') return t('groupbuy.progress_filled', { joined, units: group.units_left, time: left });
    return t(`groupbuy.ended.${group.end_reason || group.state}`, { joined });
  }

  function render() {
    fillProducts();
    const list = $('groupbuy-list');
    const shown = [...groups.values()].sort((a, b) => (b.starts_at || 0) - (a.starts_at || 0)).slice(0, 5);
    $('groupbuy-empty').hidden = shown.length > 0;
    list.replaceChildren(...shown.map((group) => {
      const product = group.product || {};
      const li = el('li', { class: 'run-row groupbuy-item', 'data-state': group.state, 'data-group-id': group.id },
        el('div', {},
          el('span', { class: 'run-title', text: product.title || '' }),
          el('span', { class: 'run-meta', text: t('groupbuy.studio.deal', {
            price: formatPrice(group.price, group.currency), list: formatPrice(group.list_price, group.currency),
          }) }),
          el('span', { class: 'run-meta groupbuy-line', role: 'timer', text: line(group) })));
      if (group.state === 'open' || group.state === 'filled') {
        const stop = el('button', { type: 'button', class: 'danger small', text: t('groupbuy.studio.stop') });
        stop.setAttribute('aria-label', t('groupbuy.studio.stop_named', { title: product.title || '' }));
        stop.addEventListener('click', () => stopGroup(group));
        li.append(stop);
      }
      return li;
    }));
    const live = getRoom() && getRoom().state === 'live';
    $('groupbuy-start').disabled = !live || !getClient() || !$('groupbuy-product').value;
    const running = shown.some((g) => g.state === 'open' || g.state === 'filled');
    if (running && !ticker) {
      ticker = setInterval(() => {
        for (const node of list.querySelectorAll('.groupbuy-item')) {
          const group = groups.get(node.dataset.groupId);
          const text = node.querySelector('.groupbuy-line');
          if (group && text) text.textContent = line(group);
        }
      }, TICK_MS);
    }
    if (!running && ticker) {
      clearInterval(ticker);
      ticker = null;
    }
  }

  $('groupbuy-form').addEventListener('submit', launch);
  window.addEventListener('lc:languagechange', render);

  return {
    render,
    roomChanged() {
      groups = new Map();
      status('');
      render();
    },
    attach(client, mine) {
      const when = (type, run) => client.addEventListener(type, (event) => { if (mine()) run(event.detail); });
      when('welcome', (detail) => {
        for (const g of detail.group_buys || []) groups.set(g.id, g);
        render();
      });
      when('groupbuy.started', (detail) => { groups.set(detail.group.id, detail.group); render(); });
      when('groupbuy.progress', (detail) => {
        const g = groups.get(detail.group_id);
        if (!g) return;
        groups.set(g.id, { ...g, joined: detail.joined, units_left: detail.units_left, state: detail.state || g.state });
        render();
      });
      when('groupbuy.filled', (detail) => {
        const g = groups.get(detail.group_id);
        if (g && g.state === 'open') groups.set(g.id, { ...g, state: 'filled' });
        render();
      });
      when('groupbuy.ended', (detail) => {
        const g = groups.get(detail.group_id);
        if (!g) return;
        const state = g.state === 'filled' || detail.reason === 'filled' || detail.reason === 'sold_out' ? 'ended' : detail.reason;
        groups.set(g.id, { ...g, state, end_reason: detail.reason, joined: detail.joined });
        render();
        if (onStock) onStock(); // unsold units went back
      });
      when('room.state', render);
    },
  };
}
