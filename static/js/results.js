// A show's results: /studio/results?room=<id> (docs/analytics.md).
//
// The host signs in as in the studio; the page reads GET /rooms/{id}/results and shows the
// summary, the timeline chart, the products and the comparison with earlier shows. While the
// show is live the figures are read again every 10 s. body[data-state] says what the page
// shows (loading, gate, forbidden, not_live, not_found, error, ready): its styles and its
// tests read it.

import { api, API_BASE, download, getToken } from './api.js';
import {
  adoptTokenFromHash, errorText, renderAccountHeader, setupAuthSheet, signOut, verifySession, wireAccountButton,
} from './auth.js';
import { $, el, setStatus } from './dom.js';
import { formatDateTime, formatNumber, formatPrice, formatTime, initI18n, setText, t, tn } from './i18n.js';
import { createChart, markerText } from './results-chart.js';
import { renderResultsPolls } from './results-polls.js';
import { formatDifference, formatDuration, formatFigure, formatRatio, GROUPS } from './results-figures.js';

const REFRESH_MS = 10000;
const roomId = new URLSearchParams(location.search).get('room') || '';
const resultsPath = `${API_BASE}/rooms/${encodeURIComponent(roomId)}/results`;

let results = null;
let chart = null;
let refreshTimer = null;
let loading = false;

function setState(name) {
  document.body.dataset.state = name;
  $('loading').hidden = name !== 'loading';
  $('gate').hidden = name !== 'gate';
  $('results-body').hidden = name !== 'ready';
  $('problem').hidden = !['forbidden', 'not_live', 'not_found', 'error', 'no_room'].includes(name);
}

function showProblem(name, err = null) {
  clearTimeout(refreshTimer);
  setText($('problem-heading'), `results.problem.${name}.heading`);
  if (name === 'error') {
    $('problem-text').removeAttribute('data-i18n');
    $('problem-text').textContent = errorText(err);
  } else {
    setText($('problem-text'), `results.problem.${name}.text`);
  }
  $('problem-retry').hidden = name !== 'error';
  setState(name);
}

// ---- rendering ----------------------------------------------------------------------------

function renderHead() {
  const { room, status } = results;
  $('results-room').textContent = room.title;
  const badge = $('results-status');
  badge.hidden = false;
  badge.className = `state-badge ${status === 'live' ? 'live' : 'ended'}`;
  setText(badge, status === 'live' ? 'results.status.live' : 'results.status.final');
  $('results-when').textContent = t('results.when', {
    start: formatDateTime(room.started_at),
    duration: formatDuration(results.duration_s),
  });
  $('results-updated').textContent = status === 'live'
    ? t('results.updated', { time: formatTime(results.generated_at) }) : '';
}

function renderFigures() {
  const currency = results.room.currency;
  for (const [group, figures] of Object.entries(GROUPS)) {
    $(`figures-${group}`).replaceChildren(...figures.map(([field, kind]) => el(
      'div', { dataset: { figure: field } },
      el('dt', { text: t(`results.fig.${field}`) }),
      el('dd', { text: formatFigure(results.summary[field], kind, currency) }),
    )));
  }
}

function renderMarkers() {
  const markers = results.markers || [];
  $('markers-empty').hidden = markers.length > 0;
  $('markers').replaceChildren(...markers.map((marker) => el(
    'li', { class: `marker-item ${marker.kind}` },
    el('span', { class: `swatch marker ${marker.kind}`, 'aria-hidden': 'true' }),
    el('time', { dateTime: new Date(marker.at).toISOString(), text: formatTime(marker.at) }),
    el('span', { text: markerLine(marker) }),
  )));
}

// A giveaway's moment also says how many entered and who won.
function markerLine(marker) {
  const line = markerText(marker);
  if (marker.kind !== 'giveaway') return line;
  const parts = [line, tn('giveaway.entrants', Number(marker.entrants || 0))];
  if (marker.winner) parts.push(t('giveaway.results.winner', { name: marker.winner }));
  return parts.join(' · ');
}

function renderProducts() {
  const currency = results.room.currency;
  const products = results.products || [];
  $('products-empty').hidden = products.length > 0;
  $('products-wrap').hidden = products.length === 0;
  $('products-rows').replaceChildren(...products.map((p) => el(
    'tr', { dataset: { productId: p.product_id } },
    el('th', { scope: 'row', text: p.title || p.product_id }),
    el('td', { text: formatNumber(p.impressions ?? 0) }),
    el('td', { text: formatNumber(p.clicks ?? 0) }),
    el('td', { text: formatRatio(p.ctr) }),
    el('td', { text: formatNumber(p.holds ?? 0) }),
    el('td', { text: formatNumber(p.orders ?? 0) }),
    el('td', { text: formatNumber(p.units ?? 0) }),
    el('td', { text: formatPrice(p.gmv ?? 0, currency) }),
    el('td', { text: formatPrice(p.refunded ?? 0, currency) }),
  )));
}

const COMPARED = [['unique_viewers', 'count'], ['peak_viewers', 'count'], ['orders', 'count'],
  ['gmv', 'money'], ['conversion', 'ratio']];

function comparedCell(current, earlier, kind, currency) {
  const cell = el('td', {}, el('span', { class: 'value', text: formatFigure(earlier, kind, currency) }));
  if (current == null || earlier == null) return cell;
  const delta = current - earlier;
  const direction = delta > 0 ? 'up' : delta < 0 ? 'down' : 'flat';
  cell.append(el('span', {
    class: `delta ${direction}`,
    text: t('results.previous.delta', { delta: formatDifference(delta, kind, currency) }),
  }));
  return cell;
}

function renderPrevious() {
  const currency = results.room.currency;
  const previous = results.previous || [];
  $('previous-empty').hidden = previous.length > 0;
  $('previous-wrap').hidden = previous.length === 0;
  const summary = results.summary;
  const current = el(
    'tr', { class: 'this-show' },
    el('th', { scope: 'row' }, el('span', { class: 'show-title', text: t('results.previous.this_show') })),
    ...COMPARED.map(([field, kind]) => el('td', {}, el('span', { class: 'value', text: formatFigure(summary[field], kind, currency) }))),
  );
  $('previous-rows').replaceChildren(current, ...previous.map((show) => el(
    'tr', { dataset: { roomId: show.room_id } },
    el('th', { scope: 'row' },
      el('a', { class: 'show-title', href: `/studio/results?room=${encodeURIComponent(show.room_id)}`, text: show.title }),
      el('span', { class: 'show-when', text: formatDateTime(show.started_at) })),
    ...COMPARED.map(([field, kind]) => comparedCell(summary[field], show[field], kind, currency)),
  )));
}

function render() {
  if (!results) return;
  renderHead();
  renderFigures();
  renderMarkers();
  renderProducts();
  renderPrevious();
  renderResultsPolls(results);
  $('chart-empty').hidden = (results.timeline || []).length > 0;
  setState('ready');
  chart.update(results);
}

// ---- data ---------------------------------------------------------------------------------

async function load() {
  clearTimeout(refreshTimer);
  if (!roomId) {
    showProblem('no_room');
    return;
  }
  if (!getToken()) {
    setState('gate');
    return;
  }
  if (loading) return;
  loading = true;
  try {
    results = await api(resultsPath);
  } catch (err) {
    loading = false;
    if (err.status === 401) {
      signOut();
      return;
    }
    // A refresh that fails for a passing reason (the network, a busy server) keeps the
    // figures shown, and tries again.
    if (results && ![403, 404, 409].includes(err.status)) {
      $('results-updated').textContent = t('results.refresh_failed');
      refreshTimer = setTimeout(load, REFRESH_MS);
      return;
    }
    const name = { 403: 'forbidden', 409: 'not_live', 404: 'not_found' }[err.status] || 'error';
    results = null;
    showProblem(name, err);
    return;
  }
  loading = false;
  render();
  if (results.status === 'live') refreshTimer = setTimeout(load, REFRESH_MS);
}

function csvName(table) {
  const slug = (results && results.room.title ? results.room.title : 'show')
    .toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'show';
  return `${slug}-${table}.csv`;
}

async function downloadCsv(table) {
  const status = $('csv-status');
  setStatus(status, '');
  try {
    await download(`${resultsPath}.csv?table=${table}`, csvName(table));
  } catch (err) {
    setStatus(status, errorText(err), true);
  }
}

async function main() {
  adoptTokenFromHash();
  await initI18n();
  const auth = await setupAuthSheet();
  chart = createChart($('chart'), $('chart-readout'));
  wireAccountButton($('account-button'), auth);
  $('gate-signin').addEventListener('click', () => auth.open('signin'));
  $('problem-retry').addEventListener('click', () => {
    setState('loading');
    load();
  });
  $('csv-products').addEventListener('click', () => downloadCsv('products'));
  $('csv-timeline').addEventListener('click', () => downloadCsv('timeline'));
  window.addEventListener('lc:languagechange', () => {
    render();
    chart.relabel();
  });
  window.addEventListener('lc:session', ({ detail }) => {
    renderAccountHeader();
    if (!detail.token) {
      clearTimeout(refreshTimer);
      results = null;
      setState('gate');
    } else if (!results) {
      setState('loading');
      load();
    }
  });
  renderAccountHeader();
  await verifySession();
  renderAccountHeader();
  await load();
}

main();
