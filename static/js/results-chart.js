// The results page's timeline chart: viewers (a line, left axis) and sales (bars, right axis)
// per minute of the show, with a mark where a product was pinned, a flash sale started or an
// auction lot started.
//
// Drawn by uPlot (vendored, static/vendor/uplot) on a canvas. The marks are a uPlot plugin
// drawing on the same canvas in its `draw` hook, so they follow the scales on a resize; what
// is under the pointer is written as text in `readout` (a canvas says nothing to a screen
// reader: the marks are also listed as text by the page).
//
// x is the minute index: minute k (its bar and its point) is centred on k, so a moment t
// minutes after Go live is drawn at t - 0.5, inside its minute's band.

import uPlot from '../vendor/uplot/uPlot.esm.js';
import { currencyDigits, formatNumber, formatPrice, formatTime, language, t } from './i18n.js';

export const COLORS = {
  viewers: '#9ecbff',
  gmv: '#34d399',
  pin: '#ff4f81',
  sale: '#fbbf24',
  auction: '#c4b5fd',
  giveaway: '#ffd166',
  poll: '#67e8f9',
  groupbuy: '#5eead4',
  axis: '#b4b9c5',
  grid: 'rgba(255,255,255,0.09)',
};

function compactMoney(minor, currency) {
  try {
    return new Intl.NumberFormat(language(), {
      style: 'currency', currency, notation: 'compact', maximumFractionDigits: 1,
    }).format(minor / 10 ** currencyDigits(currency));
  } catch {
    return formatNumber(minor);
  }
}

// The x of a marker: where its moment falls in its minute's band.
export function markerX(marker, startedAt, minutes) {
  const offset = marker.at != null && startedAt != null ? (marker.at - startedAt) / 60000 : (marker.minute ?? 0) + 0.5;
  return Math.min(Math.max(offset - 0.5, -0.5), Math.max(minutes - 0.5, -0.5));
}

function markersPlugin(view) {
  return {
    hooks: {
      draw: [(u) => {
        const { ctx } = u;
        const { top, height, left, width } = u.bbox;
        const ratio = uPlot.pxRatio || 1;
        ctx.save();
        ctx.beginPath();
        ctx.rect(left, top, width, height);
        ctx.clip();
        for (const marker of view.markers) {
          const x = Math.round(u.valToPos(markerX(marker, view.startedAt, view.minutes), 'x', true));
          const color = COLORS[marker.kind] || COLORS.axis;
          ctx.strokeStyle = color;
          ctx.fillStyle = color;
          ctx.lineWidth = 2 * ratio;
          ctx.setLineDash([5 * ratio, 4 * ratio]);
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, top + height);
          ctx.stroke();
          // A flag at the top says which kind of moment it is by its colour.
          const size = 6 * ratio;
          ctx.setLineDash([]);
          ctx.beginPath();
          ctx.moveTo(x - size, top);
          ctx.lineTo(x + size, top);
          ctx.lineTo(x, top + size * 1.6);
          ctx.closePath();
          ctx.fill();
        }
        ctx.restore();
      }],
    },
  };
}

export function markerText(marker) {
  const title = marker.title || marker.product_id || '';
  if (marker.kind === 'groupbuy') {
    // A group buy says how many joined of how many it needed, and whether it filled.
    const moment = t('groupbuy.results.moment', { title, joined: marker.joined || 0, needed: marker.min_buyers || 0 });
    return `${moment} · ${t(marker.filled ? 'groupbuy.results.filled' : 'groupbuy.results.not_filled')}`;
  }
  return t(`results.marker.${marker.kind}_named`, { title });
}

// The text for the minute under the pointer: its time, its figures and its moments.
export function minuteText(view, idx) {
  const minute = view.timeline[idx];
  if (!minute) return '';
  const parts = [
    t('results.chart.readout', {
      time: formatTime(minute.at),
      viewers: formatNumber(minute.viewers ?? 0),
      gmv: formatPrice(minute.gmv ?? 0, view.currency),
      orders: formatNumber(minute.orders ?? 0),
    }),
  ];
  for (const marker of view.markers) {
    if (Math.floor(markerX(marker, view.startedAt, view.minutes) + 0.5) === idx) parts.push(markerText(marker));
  }
  return parts.join(' · ');
}

function chartHeight(width) {
  return width < 560 ? 240 : 320;
}

export function createChart(container, readout) {
  const view = { timeline: [], markers: [], startedAt: null, minutes: 0, currency: 'EUR' };
  let plot = null;

  function data() {
    return [
      view.timeline.map((_, i) => i),
      view.timeline.map((m) => m.viewers ?? 0),
      // A minute without sales draws no bar rather than a flat one.
      view.timeline.map((m) => (m.gmv ? m.gmv : null)),
    ];
  }

  function options(width) {
    const axis = { stroke: COLORS.axis, grid: { stroke: COLORS.grid, width: 1 }, ticks: { stroke: COLORS.grid } };
    return {
      width,
      height: chartHeight(width),
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 8 } },
      scales: {
        // Every minute's band, whatever uPlot would make of a show with one minute.
        x: { time: false, range: () => [-0.5, Math.max(view.minutes, 1) - 0.5] },
        viewers: { range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] },
        gmv: { range: (u, min, max) => [0, Math.max(1, max * 1.15)] },
      },
      axes: [
        { ...axis, incrs: [1, 2, 5, 10, 15, 30, 60, 120, 240], space: 70,
          values: (u, splits) => splits.map((m) => (Number.isInteger(m) && view.timeline[m]
            ? formatTime(view.timeline[m].at) : '')) },
        { ...axis, scale: 'viewers', stroke: COLORS.viewers, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000],
          values: (u, splits) => splits.map((v) => formatNumber(v)) },
        { ...axis, scale: 'gmv', side: 1, stroke: COLORS.gmv, grid: { show: false }, size: 64,
          values: (u, splits) => splits.map((v) => compactMoney(v, view.currency)) },
      ],
      series: [
        {},
        { label: t('results.chart.viewers'), scale: 'viewers', stroke: COLORS.viewers, width: 2,
          fill: 'rgba(158,203,255,0.10)', points: { show: view.timeline.length < 3 } },
        { label: t('results.chart.gmv'), scale: 'gmv', stroke: COLORS.gmv, fill: 'rgba(52,211,153,0.45)', width: 1,
          paths: uPlot.paths.bars({ size: [0.6, 48] }), points: { show: false } },
      ],
      plugins: [markersPlugin(view)],
      hooks: {
        setCursor: [(u) => showMinute(u.cursor.idx)],
      },
    };
  }

  // The minute under the pointer, or how to get one.
  function showMinute(idx) {
    const idle = idx == null || !view.timeline[idx];
    readout.textContent = idle ? t('results.chart.hint') : minuteText(view, idx);
    readout.classList.toggle('idle', idle);
  }

  function build() {
    if (plot) plot.destroy();
    plot = null;
    if (!view.timeline.length) {
      readout.textContent = '';
      return;
    }
    showMinute(null);
    plot = new uPlot(options(Math.max(200, container.clientWidth)), data(), container);
  }

  const observer = new ResizeObserver(() => {
    if (!plot) return;
    const width = Math.max(200, container.clientWidth);
    if (width !== plot.width) plot.setSize({ width, height: chartHeight(width) });
  });
  observer.observe(container);

  return {
    // New figures: the same chart when only the numbers moved, a new one otherwise.
    update(results) {
      const timeline = results.timeline || [];
      const rebuild = !plot || timeline.length < 3 !== view.timeline.length < 3;
      view.timeline = timeline;
      view.markers = results.markers || [];
      view.startedAt = results.room ? results.room.started_at : null;
      view.minutes = timeline.length;
      view.currency = (results.room && results.room.currency) || view.currency;
      if (rebuild || !timeline.length) build();
      else plot.setData(data());
    },
    // The axes and labels speak the page's language: draw again.
    relabel() {
      build();
    },
    get plot() { return plot; },
  };
}
