// Follow and remind on the viewer page (docs/follows.md).
//
// A scheduled show's page is its landing page: the creator (a link to their page) with a
// Follow button, a countdown to the local start time, Remind me, Share and Add to calendar.
// When the show goes live the page turns into the live page by itself (viewer.js hears
// room.state), and the creator's name with Follow moves under the top bar. A guest who
// presses Remind me or Follow is asked to sign in first, and the press is carried out once
// they are in.

import { api, API_BASE, getToken, getUser } from './api.js';
import { errorText } from './auth.js';
import { $, clearText } from './dom.js';
import { setText, t, tn } from './i18n.js';

const SECOND = 1000;

// "2 d 3 h", "3 h 05 min", "4 min 09 s": the two largest parts that matter.
export function countdownParts(ms) {
  const total = Math.max(0, Math.floor(ms / SECOND));
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  return { days, hours, minutes, seconds };
}

function countdownText(ms) {
  const { days, hours, minutes, seconds } = countdownParts(ms);
  const pad = (n) => String(n).padStart(2, '0');
  if (days > 0) return t('follow.countdown.days', { days, hours });
  if (hours > 0) return t('follow.countdown.hours', { hours, minutes: pad(minutes) });
  return t('follow.countdown.minutes', { minutes, seconds: pad(seconds) });
}

export function setupViewerFollow({ roomId, getState, openSignIn }) {
  let counts = null; // {reminded, reminders, followers, following} as the server said
  let busy = false;
  let pending = null; // what a guest pressed before signing in: 'remind' or 'follow'
  let timer = null;
  let statusTimer = null;

  const room = () => getState().room;
  const hostId = () => { const r = room(); return r && r.host ? r.host.id : null; };
  const isHost = () => { const user = getToken() ? getUser() : null; return Boolean(user && user.id === hostId()); };
  const pageUrl = () => `${location.origin}/rooms/${encodeURIComponent(roomId)}`;

  function say(key, args) {
    clearTimeout(statusTimer);
    const status = $('landing-status');
    if (!key) { clearText(status); return; }
    setText(status, key, args);
    statusTimer = setTimeout(() => clearText(status), 6000);
  }

  async function load() {
    try {
      counts = await api(`${API_BASE}/rooms/${encodeURIComponent(roomId)}/reminder`);
    } catch {
      counts = null;
    }
    render();
  }

  function renderFollow(button) {
    const following = Boolean(counts && counts.following);
    button.hidden = isHost();
    button.setAttribute('aria-pressed', String(following));
    button.classList.toggle('following', following);
    setText(button, following ? 'follow.following' : 'follow.follow');
    button.disabled = busy;
  }

  function renderCountdown() {
    const r = room();
    const node = $('landing-countdown');
    if (!r || r.state !== 'scheduled' || !r.scheduled_at) {
      clearInterval(timer);
      timer = null;
      clearText(node);
      return;
    }
    const left = r.scheduled_at - Date.now();
    if (left <= 0) setText(node, 'follow.countdown.soon');
    else {
      node.removeAttribute('data-i18n');
      node.textContent = countdownText(left);
    }
    if (!timer) timer = setInterval(renderCountdown, SECOND);
  }

  function render() {
    const r = room();
    const landing = $('show-landing');
    const scheduled = Boolean(r && r.state === 'scheduled');
    landing.hidden = !scheduled;
    document.body.dataset.landing = String(scheduled);
    const host = r && r.host ? r.host : null;
    const hostRow = $('host-row');
    hostRow.hidden = !(r && r.state === 'live' && host);
    for (const link of [$('landing-creator-link'), $('host-chip-link')]) {
      link.textContent = host ? host.name : '';
      link.href = host ? `/creators/${encodeURIComponent(host.id)}` : '#';
    }
    renderFollow($('landing-follow'));
    renderFollow($('host-follow'));
    const followers = $('landing-followers');
    if (counts) followers.textContent = tn('follow.followers', counts.followers);
    else followers.textContent = '';
    const remind = $('remind-button');
    const reminded = Boolean(counts && counts.reminded);
    remind.setAttribute('aria-pressed', String(reminded));
    remind.classList.toggle('reminded', reminded);
    remind.disabled = busy;
    setText($('remind-label'), reminded ? 'follow.reminded' : 'follow.remind');
    remind.hidden = isHost();
    const count = $('remind-count');
    count.textContent = counts && counts.reminders > 0 ? tn('follow.reminders', counts.reminders) : '';
    $('calendar-link').href = `${API_BASE}/rooms/${encodeURIComponent(roomId)}/calendar.ics`;
    if (scheduled) renderCountdown();
    else { clearInterval(timer); timer = null; }
  }

  async function toggle(kind) {
    if (!getToken()) {
      pending = kind;
      openSignIn();
      return;
    }
    if (busy || !counts) return;
    busy = true;
    render();
    try {
      if (kind === 'remind') {
        const on = !counts.reminded;
        const answer = await api(`${API_BASE}/rooms/${encodeURIComponent(roomId)}/reminder`, { method: on ? 'PUT' : 'DELETE' });
        counts = { ...counts, reminded: answer.reminded, reminders: answer.reminders };
        say(on ? 'follow.reminded_note' : null);
      } else {
        const on = !counts.following;
        const r = room();
        const from = r && r.state === 'live' ? `?room=${encodeURIComponent(roomId)}` : '';
        const answer = await api(`${API_BASE}/creators/${encodeURIComponent(hostId())}/follow${from}`, { method: on ? 'PUT' : 'DELETE' });
        counts = { ...counts, following: answer.following, followers: answer.followers };
        say(on ? 'follow.followed_note' : null, { name: r && r.host ? r.host.name : '' });
      }
    } catch (err) {
      const status = $('landing-status');
      status.removeAttribute('data-i18n');
      status.textContent = err.code === 'show_ended' ? t('follow.error.show_ended') : errorText(err);
    } finally {
      busy = false;
      render();
    }
  }

  async function share() {
    const r = room();
    const url = pageUrl();
    if (navigator.share) {
      try {
        await navigator.share({ title: r ? r.title : document.title, url });
        return;
      } catch (err) {
        if (err && err.name === 'AbortError') return; // the person closed the share sheet
      }
    }
    try {
      await navigator.clipboard.writeText(url);
      say('follow.link_copied');
    } catch {
      say('follow.copy_this', { url });
    }
  }

  $('remind-button').addEventListener('click', () => toggle('remind'));
  $('landing-follow').addEventListener('click', () => toggle('follow'));
  $('host-follow').addEventListener('click', () => toggle('follow'));
  $('share-button').addEventListener('click', share);
  window.addEventListener('lc:session', async () => {
    await load();
    const kind = pending;
    pending = null;
    if (!getToken() || !kind || !counts || isHost()) return;
    // The press is carried out once signed in, unless it is already so (a toggle would undo it).
    if ((kind === 'remind' && !counts.reminded) || (kind === 'follow' && !counts.following)) {
      await toggle(kind);
    }
  });

  return { load, render };
}
