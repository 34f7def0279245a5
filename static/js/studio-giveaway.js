// The studio's giveaways: start one of the host's products (who may enter, for how long), watch
// the entrant count live, cancel, and see each result (docs/protocol.md, "Giveaways"). Commands
// go over the studio's socket; the show's earlier giveaways are read over HTTP.

import { api, API_BASE } from './api.js';
import { $, el, option, setStatus } from './dom.js';
import { errorSentence, formatClock, formatPrice, setText, t, tn } from './i18n.js';

const TICK_MS = 250;
const KINDS = ['standard', 'followers', 'buyers'];

export function setupStudioGiveaway({ getClient, getRoom, getProducts, onStock }) {
  let current = null; // the running giveaway, or the last one to end
  let count = 0;
  let past = [];
  let ticker = null;
  let watching = () => true; // whether events of this client are still the chosen show's

  const now = () => { const client = getClient(); return client ? client.serverNow() : Date.now(); };

  // ---- the box, made once, after the auction run sheet -----------------------------------

  const heading = el('h3', { id: 'giveaway-heading' });
  const liveTitle = el('span', { id: 'giveaway-live-title', class: 'giveaway-live-title' });
  const liveTime = el('span', { id: 'giveaway-live-time', class: 'giveaway-live-time', role: 'timer', 'aria-atomic': 'true' });
  const liveCount = el('span', { id: 'giveaway-live-count', class: 'giveaway-live-count', 'aria-live': 'polite' });
  const cancel = el('button', { type: 'button', id: 'giveaway-cancel', class: 'danger small' });
  const liveResult = el('p', { id: 'giveaway-live-result', class: 'giveaway-result', role: 'status', 'aria-live': 'polite' });
  const live = el('div', { id: 'giveaway-live', class: 'giveaway-live', hidden: true },
    el('div', { class: 'giveaway-live-head' }, liveTitle, liveTime, cancel), liveCount, liveResult);
  const product = el('select', { id: 'giveaway-product', name: 'product_id' });
  const kind = el('select', { id: 'giveaway-kind', name: 'kind' });
  const duration = el('input', {
    id: 'giveaway-duration', name: 'duration_s', type: 'number', inputMode: 'numeric', min: 10, max: 300, step: 1, value: '60',
  });
  const start = el('button', { type: 'submit', id: 'giveaway-start', class: 'primary' });
  const labels = {
    product: el('label', { htmlFor: 'giveaway-product' }),
    kind: el('label', { htmlFor: 'giveaway-kind' }),
    duration: el('label', { htmlFor: 'giveaway-duration' }),
  };
  const form = el('form', { id: 'giveaway-form', class: 'sale-form giveaway-form', noValidate: true },
    el('div', { class: 'field sale-product' }, labels.product, product),
    el('div', { class: 'field' }, labels.kind, kind),
    el('div', { class: 'field' }, labels.duration, duration),
    el('div', { class: 'sale-submit' }, start));
  const pastHead = el('h4', { class: 'run-subhead', id: 'giveaway-past-head', hidden: true });
  const pastList = el('ol', { id: 'giveaway-past', class: 'giveaway-list' });
  const statusEl = el('p', { id: 'giveaway-status', class: 'notice', role: 'status', 'aria-live': 'polite' });
  const box = el('section', { id: 'giveaway-box', class: 'sell-box giveaway-box', 'aria-labelledby': 'giveaway-heading' },
    heading, live, form, pastHead, pastList, statusEl);
  $('run-sheet').after(box);

  function status(text, isError = false) {
    setStatus(statusEl, text, isError);
  }

  function resultText(g) {
    const r = g.result || {};
    const title = (g.product && g.product.title) || '';
    if (r.reason === 'drawn' && r.winner) return t('giveaway.result.drawn', { name: r.winner.name || '', title });
    if (r.reason === 'no_entrants') return t('giveaway.result.no_entrants', { title });
    return t('giveaway.result.cancelled', { title });
  }

  // ---- rendering -------------------------------------------------------------------------

  function fillForm() {
    setText(heading, 'giveaway.studio.heading');
    setText(labels.product, 'studio.sale.product');
    setText(labels.kind, 'giveaway.studio.kind');
    setText(labels.duration, 'giveaway.studio.duration');
    setText(start, 'giveaway.studio.start');
    setText(cancel, 'giveaway.studio.cancel');
    setText(pastHead, 'giveaway.studio.past');
    const chosenKind = kind.value || 'standard';
    kind.replaceChildren(...KINDS.map((k) => option(k, t(`giveaway.studio.kind.${k}`))));
    kind.value = chosenKind;
    const r = getRoom();
    const previous = product.value;
    const usable = getProducts().filter((p) => (!r || p.currency === r.currency) && Number(p.stock) > 0);
    product.replaceChildren(...usable.map((p) => option(p.id, `${p.title} · ${formatPrice(p.price, p.currency)}`)));
    if (previous && usable.some((p) => p.id === previous)) product.value = previous;
  }

  function renderTime() {
    if (!current || current.state !== 'active') return;
    const left = Math.max(0, Number(current.ends_at || 0) - now());
    const text = left > 0 ? formatClock(left) : t('giveaway.closing');
    if (liveTime.textContent !== text) liveTime.textContent = text;
  }

  function render() {
    fillForm();
    const r = getRoom();
    box.hidden = !r || r.state === 'ended' && !current;
    live.hidden = !current;
    if (current) {
      const running = current.state === 'active';
      setText(liveTitle, 'giveaway.studio.running', { title: (current.product && current.product.title) || '' });
      liveCount.textContent = tn('giveaway.entrants', Math.max(count, Number(current.entrants || 0)));
      cancel.hidden = !running;
      liveTime.hidden = !running;
      liveResult.hidden = running;
      if (!running) liveResult.textContent = resultText(current);
      if (running) renderTime();
      if (running && !ticker) ticker = setInterval(renderTime, TICK_MS);
      if (!running) {
        clearInterval(ticker);
        ticker = null;
      }
    }
    // One giveaway at a time: the form comes back when the running one has ended.
    form.hidden = Boolean(current && current.state === 'active');
    start.disabled = !r || r.state !== 'live';
    const earlier = past.filter((g) => g.state === 'ended' && (!current || g.id !== current.id || current.state === 'ended'));
    pastHead.hidden = earlier.length === 0;
    pastList.replaceChildren(...earlier.slice().reverse().map((g) => el('li', {
      dataset: { giveawayId: g.id },
      text: `${resultText(g)} · ${tn('giveaway.entrants', Number(g.entrants || 0))}`,
    })));
  }

  async function readPast() {
    const r = getRoom();
    if (!r) return;
    try {
      const data = await api(`${API_BASE}/rooms/${encodeURIComponent(r.id)}/giveaways`, { auth: false });
      past = (data && data.giveaways) || [];
    } catch {
      past = [];
    }
    render();
  }

  // ---- commands --------------------------------------------------------------------------

  function refusalText(err) {
    if (err.code === 'disconnected' || err.code === 'timeout') return t('chat.not_sent');
    if (err.code === 'room_not_live') return t('studio.sale.error.not_live');
    const key = `giveaway.studio.error.${err.code}`;
    if (t(key) !== key) return t(key);
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

  async function submit(event) {
    event.preventDefault();
    const seconds = Number(duration.value);
    if (!Number.isInteger(seconds) || seconds < 10 || seconds > 300) {
      duration.setAttribute('aria-invalid', 'true');
      status(t('giveaway.studio.error.duration'), true);
      duration.focus();
      return;
    }
    duration.removeAttribute('aria-invalid');
    if (!product.value) {
      status(t('giveaway.studio.error.no_product'), true);
      return;
    }
    start.disabled = true;
    const reply = await command('giveaway.start', { product_id: product.value, kind: kind.value, duration_s: seconds });
    if (reply) {
      current = reply.giveaway;
      count = 0;
      status(t('giveaway.studio.started'));
      onStock();
    }
    render();
  }

  async function cancelRunning() {
    if (!current) return;
    const reply = await command('giveaway.cancel', { giveaway_id: current.id });
    if (reply) {
      current = reply.giveaway;
      onStock();
      readPast();
    }
    render();
  }

  form.addEventListener('submit', submit);
  cancel.addEventListener('click', cancelRunning);
  window.addEventListener('lc:languagechange', render);

  return {
    render,
    roomChanged() {
      current = null;
      count = 0;
      past = [];
      status('');
      render();
      readPast();
    },
    attach(client, mine = () => true) {
      watching = mine;
      client.addEventListener('welcome', ({ detail }) => {
        if (!watching()) return;
        current = detail.giveaway || null;
        count = 0;
        render();
      });
      client.addEventListener('giveaway.started', ({ detail }) => {
        if (!watching()) return;
        current = detail.giveaway;
        count = 0;
        render();
      });
      client.addEventListener('giveaway.entered', ({ detail }) => {
        if (!watching() || !current || current.id !== detail.giveaway_id || current.state !== 'active') return;
        count = Math.max(count, Number(detail.count || 0));
        liveCount.textContent = tn('giveaway.entrants', count);
      });
      client.addEventListener('giveaway.ended', ({ detail }) => {
        if (!watching() || !current || current.id !== detail.giveaway_id) return;
        current = {
          ...current,
          state: 'ended',
          entrants: detail.entrants,
          result: { reason: detail.reason, winner: detail.winner, seed: detail.seed },
        };
        count = Number(detail.entrants || 0);
        render();
        readPast();
        if (detail.reason !== 'drawn') onStock(); // its unit came back
      });
      client.addEventListener('room.state', render);
    },
  };
}
