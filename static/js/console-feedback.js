// What the moderator is told: what a tool did (a confirmation that goes by itself) or why it
// was refused (an error that stays until closed), written to a live region as well.

import { $ } from './dom.js';
import { formatDuration } from './durations.js';
import { errorSentence, formatSeconds, formatWhen, t, tn } from './i18n.js';

const TOAST_MS = 5000;
let toastTimer = null;

export function describeError(err) {
  const code = (err && err.code) || 'internal';
  const detail = (err && (err.detail || err.message)) || code;
  switch (code) {
    case 'forbidden': return t('console.error.forbidden');
    case 'not_found': return t('console.error.not_found');
    case 'disconnected':
    case 'timeout': return t('console.error.not_sent');
    case 'rate_limited': return t('error.rate_limited', { seconds: formatSeconds(Number(err.retryAfter ?? 1)) });
    case 'bad_request': return t('error.bad_request', { detail });
    default: return errorSentence(code, { detail }, detail);
  }
}

export function hideToast() {
  clearTimeout(toastTimer);
  $('toast').hidden = true;
}

export function toast(text, tone = 'ok') {
  clearTimeout(toastTimer);
  $('toast-text').textContent = text;
  $('toast').dataset.tone = tone;
  $('toast').hidden = false;
  const live = tone === 'error' ? $('toast-alert') : $('toast-status');
  live.textContent = '';
  // A fresh text node is announced even when it repeats the last one.
  requestAnimationFrame(() => { live.textContent = text; });
  // Errors stay until closed or replaced; confirmations go by themselves.
  if (tone !== 'error') toastTimer = setTimeout(hideToast, TOAST_MS);
}

export function doneText(type, fields, ack, name) {
  switch (type) {
    case 'mod.delete': return t('console.done.delete');
    case 'mod.timeout': return t('console.done.timeout', { name, time: formatWhen(ack.until) });
    case 'mod.ban': return t('console.done.ban', { name });
    case 'mod.unban': return t('console.done.unban', { name });
    case 'mod.untimeout': return t('console.done.untimeout', { name });
    case 'mod.pin_chat': return t('console.done.pin');
    case 'mod.unpin_chat': return t('console.done.unpin');
    case 'mod.slow': return fields.seconds
      ? t('console.done.slow_on', { duration: formatDuration(fields.seconds) }) : t('console.done.slow_off');
    case 'mod.words': return tn('console.done.words', (fields.words || []).length);
    case 'mod.resolve': return t('console.done.resolve');
    case 'auction.void': return t('console.lot.done_void', { name });
    default: return '';
  }
}
