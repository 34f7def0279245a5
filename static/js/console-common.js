// Pieces the moderator console's modules share: who is who in the room, time-out choices and
// how a moment is written.

import { el, timeEl } from './dom.js';
import { formatDuration } from './durations.js';
import { formatWhen, t } from './i18n.js';

// Time-out lengths offered on every chat line and in the user panel, in seconds.
export const TIMEOUTS = [60, 600, 3600, 86400];

// Slow-mode choices (0: off); a value set elsewhere is added to the list when seen.
export const SLOW_CHOICES = [0, 5, 10, 30, 60, 120, 300, 600];

export function nameOf(desk, userId, fallback = '') {
  return desk.names.get(userId) || fallback || userId || '?';
}

export function remember(desk, user) {
  if (user && user.id && user.name) desk.names.set(user.id, user.name);
}

export function isHost(desk, userId) {
  return Boolean(desk.room && desk.room.host && desk.room.host.id === userId);
}

// The host and moderators are out of a moderator's reach (the server refuses), and nobody
// acts on themselves: the console does not offer what would be refused.
export function canActOn(desk, userId) {
  return Boolean(userId) && userId !== desk.me && !isHost(desk, userId) && !desk.moderators.has(userId);
}

export function standingOf(desk, userId, now = Date.now()) {
  if (desk.banned.has(userId)) return { banned: true, until: 0 };
  const until = desk.timeouts.get(userId) || 0;
  return { banned: false, until: until > now ? until : 0 };
}

// A moment as a <time>, today's as a time of day, older ones with their date.
export function timeElement(ms) {
  return timeEl(ms, formatWhen(ms));
}

// A row of time-out buttons ("1 min", "10 min", ...); each names its whole action for
// screen readers ("Time out for 10 minutes") with the visible words inside that name.
export function timeoutButtons(onPick, className = 'small-button') {
  return TIMEOUTS.map((seconds) => {
    const button = el('button', {
      type: 'button',
      class: className,
      dataset: { seconds: String(seconds) },
      text: formatDuration(seconds, 'short'),
      'aria-label': t('console.action.timeout_for', { duration: formatDuration(seconds) }),
    });
    button.addEventListener('click', () => onPick(seconds, button));
    return button;
  });
}
