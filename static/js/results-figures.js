// The figures of a show's results (docs/analytics.md), as the results page and the studio's
// live card show them: which figure goes in which group, how each kind of value is written
// in the page's language, and the trend of the last complete minute.
//
// Pure functions of the results JSON; the pages only put the text in place.

import { formatClock, formatNumber, formatPrice, language } from './i18n.js';

// [field of `summary`, kind]; the label is the string `results.fig.<field>`.
export const GROUPS = {
  audience: [['unique_viewers', 'count'], ['views', 'count'], ['peak_viewers', 'count'],
    ['watch_time_s', 'duration'], ['average_watch_s', 'duration']],
  engagement: [['chat_lines', 'count'], ['chatters', 'count'], ['reactions', 'count'], ['reports', 'count'],
    ['new_followers', 'count']],
  commerce: [['impressions', 'count'], ['clicks', 'count'], ['holds', 'count'], ['orders', 'count'],
    ['units', 'count'], ['buyers', 'count'], ['first_time_buyers', 'count'], ['gmv', 'money'],
    ['refunds', 'count'], ['refunded', 'money'], ['net_revenue', 'money']],
  ratios: [['ctr', 'ratio'], ['click_to_order', 'ratio'], ['conversion', 'ratio'], ['aov', 'money'],
    ['gpm', 'money']],
};

const DASH = '–';

export function formatRatio(value) {
  if (value == null || Number.isNaN(Number(value))) return DASH;
  return new Intl.NumberFormat(language(), { style: 'percent', maximumFractionDigits: 1 }).format(value);
}

// Seconds as m:ss or h:mm:ss: the same digits in every language.
export function formatDuration(seconds) {
  if (seconds == null) return DASH;
  return formatClock(Number(seconds) * 1000);
}

export function formatFigure(value, kind, currency) {
  if (value == null) return DASH;
  switch (kind) {
    case 'money': return formatPrice(value, currency) || DASH;
    case 'ratio': return formatRatio(value);
    case 'duration': return formatDuration(value);
    default: return formatNumber(value);
  }
}

// "+12", "−3", "0" (money and ratios as their kind, a ratio's difference in points).
export function formatDifference(delta, kind, currency) {
  if (delta == null || Number.isNaN(delta)) return DASH;
  const lang = language();
  if (kind === 'ratio') {
    return new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 1, signDisplay: 'exceptZero' })
      .format(delta);
  }
  if (kind === 'money') {
    try {
      const nf = new Intl.NumberFormat(lang, { style: 'currency', currency, signDisplay: 'exceptZero' });
      const digits = nf.resolvedOptions().maximumFractionDigits ?? 2;
      return nf.format(delta / 10 ** digits);
    } catch {
      return `${delta > 0 ? '+' : ''}${delta} ${currency}`;
    }
  }
  return new Intl.NumberFormat(lang, { signDisplay: 'exceptZero' }).format(delta);
}

// The minutes to compare for a trend: while live the last entry is the minute still
// running, so the last complete one is the one before it.
export function lastCompleteMinutes(results) {
  const timeline = (results && results.timeline) || [];
  const end = results && results.status === 'live' ? timeline.length - 1 : timeline.length;
  if (end < 2) return null;
  return { last: timeline[end - 1], before: timeline[end - 2] };
}

// 'up', 'down' or 'flat' for a timeline field, or null when there are not two complete
// minutes yet.
export function trend(results, field) {
  const minutes = lastCompleteMinutes(results);
  if (!minutes) return null;
  const a = Number(minutes.before[field] ?? 0);
  const b = Number(minutes.last[field] ?? 0);
  if (b > a) return 'up';
  if (b < a) return 'down';
  return 'flat';
}

export const TREND_ARROW = { up: '↑', down: '↓', flat: '→' };
