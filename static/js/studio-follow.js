// The studio's word on a show's audience before it starts: how many follow the creator and
// how many asked to be reminded of this show (docs/follows.md).

import { api, API_BASE } from './api.js';
import { $ } from './dom.js';
import { formatNumber, setText } from './i18n.js';

const REFRESH_MS = 15000;

export function setupStudioFollow() {
  let shown = null; // the room whose counts are on screen
  let fetchedAt = 0;
  let counts = null;

  function draw(room) {
    const pill = $('panel-audience');
    if (!room || room.state === 'ended' || !counts || shown !== room.id) {
      pill.hidden = true;
      return;
    }
    pill.hidden = false;
    setText(pill, 'follow.studio.audience', {
      followers: formatNumber(counts.followers),
      reminders: formatNumber(counts.reminders),
    });
  }

  async function render(room) {
    draw(room);
    if (!room || room.state === 'ended') return;
    if (shown === room.id && Date.now() - fetchedAt < REFRESH_MS) return;
    if (shown !== room.id) counts = null;
    shown = room.id;
    fetchedAt = Date.now();
    try {
      counts = await api(`${API_BASE}/rooms/${encodeURIComponent(room.id)}/reminder`);
    } catch {
      counts = null;
    }
    draw(room);
  }

  return { render };
}
