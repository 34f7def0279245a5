// Moderation as a viewer meets it: the pinned chat line above the chat, the slow-mode notice,
// the paid-partnership label, what a moderator did to you (`moderated`), refusals that need
// more than a sentence (time-outs until a time, slow mode), and reporting a chat line.

import { $, closeOnBackdrop, el } from './dom.js';
import { formatDuration } from './durations.js';
import { errorSentence, formatSeconds, formatWhen, setText, t } from './i18n.js';

export const REPORT_REASONS = ['spam', 'harassment', 'hate', 'scam', 'sexual', 'other'];

const FLAG_ICON = 'M5 21V4m0 0h11l-2 4 2 4H5';

function flagButton(m) {
  const name = (m.user && m.user.name) || '?';
  const button = el('button', {
    type: 'button',
    class: 'chat-report chat-line-action',
    'data-i18n-aria-label': 'report.action_named',
    'data-i18n-args': JSON.stringify({ name }),
    'aria-label': t('report.action_named', { name }),
    'aria-haspopup': 'dialog',
  });
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '16');
  svg.setAttribute('height', '16');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  path.setAttribute('d', FLAG_ICON);
  path.setAttribute('fill', 'none');
  path.setAttribute('stroke', 'currentColor');
  path.setAttribute('stroke-width', '2');
  path.setAttribute('stroke-linecap', 'round');
  path.setAttribute('stroke-linejoin', 'round');
  svg.append(path);
  button.append(svg);
  return button;
}

// What it shows comes from the room's state (`getState`, room-state.js): the pinned line,
// the room's slow mode and its paid-partnership label.
export function setupViewerModeration({ getClient, getState, showNotice }) {
  const slowSeconds = () => Number((getState().room || {}).slow_s || 0);
  const paid = () => Boolean((getState().room || {}).paid_partnership);
  const dialog = $('report-sheet');
  const form = $('report-form');
  const error = $('report-error');
  let reported = null; // the message being reported
  let opener = null;

  // ---- what the room shows ---------------------------------------------------------------

  function renderPinned() {
    const box = $('pinned-chat');
    const pinned = getState().pinnedChat;
    box.hidden = !pinned;
    if (!pinned) return;
    $('pinned-chat-name').textContent = (pinned.user && pinned.user.name) || '?';
    $('pinned-chat-text').textContent = String(pinned.text ?? '');
  }

  function renderSlow() {
    const notice = $('slow-notice');
    const slow = slowSeconds();
    notice.hidden = !slow;
    if (slow) setText(notice, 'viewer.slow_mode', { duration: formatDuration(slow) });
  }

  function renderDisclosure() {
    $('paid-note').hidden = !paid();
    document.body.dataset.paid = String(paid());
  }

  function render() {
    renderPinned();
    renderSlow();
    renderDisclosure();
  }

  // ---- reporting a line ------------------------------------------------------------------

  function openReport(m, button) {
    reported = m;
    opener = button;
    form.reset();
    error.textContent = '';
    $('report-quote-name').textContent = (m.user && m.user.name) || '?';
    $('report-quote-text').textContent = String(m.text ?? '');
    $('report-submit').disabled = false;
    if (!dialog.open) dialog.showModal();
    form.querySelector('input[name="reason"]').focus();
  }

  function closeReport() {
    if (dialog.open) dialog.close();
  }

  dialog.addEventListener('close', () => {
    reported = null;
    if (opener && document.contains(opener)) opener.focus();
    else $('chat-log').focus();
  });
  closeOnBackdrop(dialog, closeReport);
  $('report-close').addEventListener('click', closeReport);
  $('report-cancel').addEventListener('click', closeReport);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const reason = (form.querySelector('input[name="reason"]:checked') || {}).value;
    if (!reason) {
      error.textContent = t('report.choose');
      form.querySelector('input[name="reason"]').focus();
      return;
    }
    const client = getClient();
    const note = $('report-note').value.trim();
    const submit = $('report-submit');
    submit.disabled = true;
    error.textContent = '';
    try {
      await client.request('report', { message_id: reported.id, reason, ...(note ? { note } : {}) }, { quiet: true });
      closeReport();
      showNotice(t('report.sent'));
    } catch (err) {
      error.textContent = reportErrorText(err);
    } finally {
      submit.disabled = false;
    }
  });

  function reportErrorText(err) {
    switch (err.code) {
      case 'not_found': return t('report.gone');
      case 'rate_limited': return t('error.rate_limited', { seconds: formatSeconds(Number(err.retryAfter ?? 1)) });
      case 'disconnected':
      case 'timeout': return t('chat.not_sent');
      default: return errorSentence(err.code, { detail: err.message || '' }, err.message || err.code || '');
    }
  }

  // ChatView calls this for every line it draws: a report button on lines with an id. CSS
  // shows it only to signed-in viewers, and not on their own or removed lines.
  function decorate(li, m) {
    if (m.id == null || !m.user) return;
    const button = flagButton(m);
    button.addEventListener('click', () => openReport(m, button));
    li.append(' ', button);
  }

  // ---- refusals and notes ----------------------------------------------------------------

  // The text for a chat refusal that needs more than its code's sentence, or null.
  function refusalText(msg) {
    if (!msg) return null;
    if (msg.code === 'muted' && msg.until) return t('error.muted_until', { time: formatWhen(Number(msg.until)) });
    return null;
  }

  function moderatedText(detail) {
    let text = '';
    if (detail.action === 'timeout' && detail.until) {
      text = t('viewer.moderated.timeout', { time: formatWhen(Number(detail.until)) });
    } else if (detail.action === 'ban') {
      text = t('viewer.moderated.ban');
    } else if (detail.action === 'unban') {
      text = t('viewer.moderated.unban');
    } else if (detail.action === 'untimeout') {
      text = t('viewer.moderated.untimeout');
    }
    if (text && detail.reason) text = `${text} ${t('viewer.moderated.reason', { reason: detail.reason })}`;
    return text;
  }

  function attach(client) {
    client.addEventListener('welcome', render);
    client.addEventListener('chat.pinned', renderPinned);
    client.addEventListener('chat.unpinned', renderPinned);
    client.addEventListener('chat.deleted', ({ detail }) => {
      renderPinned();
      if (reported && String(reported.id) === String(detail.id)) closeReport();
    });
    client.addEventListener('room.slow', renderSlow);
    client.addEventListener('room.disclosure', renderDisclosure);
    client.addEventListener('moderated', ({ detail }) => {
      const text = moderatedText(detail);
      if (text) showNotice(text);
    });
  }

  return {
    attach,
    decorate,
    render,
    refusalText,
    slowSeconds,
  };
}
