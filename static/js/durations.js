// Durations in words ("10 minutes", "1 h") in the page's language, from the browser's Intl:
// time-outs and slow mode are whole minutes, hours or days more often than not.

import { language } from './i18n.js';

// The largest unit that divides the duration evenly, so 90 s stays "90 seconds".
function unitOf(seconds) {
  if (seconds >= 86400 && seconds % 86400 === 0) return ['day', seconds / 86400];
  if (seconds >= 3600 && seconds % 3600 === 0) return ['hour', seconds / 3600];
  if (seconds >= 60 && seconds % 60 === 0) return ['minute', seconds / 60];
  return ['second', seconds];
}

// `display`: "long" ("10 minutes") for sentences, "short" ("10 min") for buttons.
export function formatDuration(seconds, display = 'long') {
  const whole = Math.max(0, Math.round(Number(seconds) || 0));
  const [unit, n] = unitOf(whole);
  try {
    return new Intl.NumberFormat(language(), { style: 'unit', unit, unitDisplay: display }).format(n);
  } catch {
    return `${whole} s`;
  }
}
