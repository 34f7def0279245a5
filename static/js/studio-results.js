// The studio's "Live results" card: while the chosen show is live, its figures so far
// (docs/analytics.md), read again every 10 s, each with the way it went over the last
// complete minute; and the links to the full results page.
//
// Only the results endpoint is read: the card shows what the results page will show, not a
// count of its own. A figure without a per-minute series of its own follows the nearest one
// the timeline has (the audience figures follow viewers, conversion follows orders).

import { api, API_BASE } from './api.js';
import { $, el } from './dom.js';
import { formatTime, setText, t } from './i18n.js';
import { formatFigure, TREND_ARROW, trend } from './results-figures.js';

const REFRESH_MS = 10000;

// [key, label key, value from the results, kind, timeline field for the trend]
const FIGURES = [
  ['viewers_now', 'studio.results.viewers_now', (r) => lastMinute(r).viewers ?? 0, 'count', 'viewers'],
  ['peak_viewers', 'results.fig.peak_viewers', (r) => r.summary.peak_viewers, 'count', 'viewers'],
  ['unique_viewers', 'results.fig.unique_viewers', (r) => r.summary.unique_viewers, 'count', 'viewers'],
  ['chat_lines', 'results.fig.chat_lines', (r) => r.summary.chat_lines, 'count', 'chat_lines'],
  ['clicks', 'results.fig.clicks', (r) => r.summary.clicks, 'count', 'clicks'],
  ['orders', 'results.fig.orders', (r) => r.summary.orders, 'count', 'orders'],
  ['gmv', 'results.fig.gmv', (r) => r.summary.gmv, 'money', 'gmv'],
  ['conversion', 'results.fig.conversion', (r) => r.summary.conversion, 'ratio', 'orders'],
];

function lastMinute(results) {
  const timeline = results.timeline || [];
  return timeline[timeline.length - 1] || {};
}

export function resultsHref(roomId) {
  return `/studio/results?room=${encodeURIComponent(roomId)}`;
}

export function setupStudioResults({ getRoom }) {
  const card = $('live-results');
  const status = $('live-results-status');
  let roomId = null; // the live room being polled
  let results = null;
  let failed = false;
  let timer = null;
  let generation = 0;

  function stop() {
    clearTimeout(timer);
    generation += 1;
    roomId = null;
    results = null;
    failed = false;
  }

  async function poll() {
    const id = roomId;
    const mine = ++generation;
    try {
      const data = await api(`${API_BASE}/rooms/${encodeURIComponent(id)}/results`);
      if (mine !== generation) return;
      results = data;
      failed = false;
    } catch {
      if (mine !== generation) return;
      // A show that has only just gone live may not answer yet: the next read will.
      failed = true;
    }
    render();
    timer = setTimeout(poll, REFRESH_MS);
  }

  function figure([key, label, value, kind, field]) {
    const direction = trend(results, field);
    const dd = el('dd', {}, el('span', { class: 'value', text: formatFigure(value(results), kind, results.room.currency) }));
    if (direction) {
      dd.append(
        el('span', { class: `trend ${direction}`, 'aria-hidden': 'true', text: TREND_ARROW[direction] }),
        el('span', { class: 'visually-hidden', text: t(`studio.results.trend.${direction}`) }),
      );
    }
    return el('div', { dataset: { figure: key, trend: direction || 'none' } }, el('dt', { text: t(label) }), dd);
  }

  function renderCard() {
    card.hidden = !results;
    if (!results) return;
    $('live-results-link').href = resultsHref(results.room.id);
    $('live-figures').replaceChildren(...FIGURES.map(figure));
    if (failed) {
      setText(status, 'studio.results.error');
    } else {
      setText(status, 'studio.results.updated', { time: formatTime(results.generated_at) });
    }
    status.classList.toggle('error', failed);
  }

  // Follows the chosen show: polls while it is live, stops otherwise.
  function render() {
    const room = getRoom();
    const link = $('results-link');
    // While live the card carries the link; once ended the figures are final, and here.
    link.hidden = !room || room.state !== 'ended';
    if (room) link.href = resultsHref(room.id);
    if (!room || room.state !== 'live') {
      if (roomId) stop();
      card.hidden = true;
      return;
    }
    if (roomId !== room.id) {
      stop();
      roomId = room.id;
      poll();
    }
    renderCard();
  }

  return { render };
}
