// The studio's polls and quizzes: ask the room a question with 2 to 4 options for a set time
// (mark one as right and it is a quiz), watch the votes come in as bars, end it early, and see
// the result with a quiz's fastest right answers (docs/protocol.md, "Polls and quizzes").
// Commands go over the studio's socket; the polls are folded by poll-state.js.

import { $, clearText, el, setStatus } from './dom.js';
import { errorSentence, formatClock, formatNumber, language, setText, t, tn } from './i18n.js';
import { foldPolls, initialPolls, shownPoll } from './poll-state.js';
import { boardRows } from './viewer-poll.js';

const TICK_MS = 250;
const MIN_OPTIONS = 2;
const MAX_OPTIONS = 4;

export function setupStudioPoll({ getClient }) {
  let polls = initialPolls();
  let ticker = null;
  let drawnFor = null;
  let busy = false;
  let drafts = ['', '']; // the option texts being written
  let answer = null; // index of the option marked right, or null (a poll)
  const answers = {}; // poll id -> its right answer, from the ack of our own quiz's start

  const now = () => { const client = getClient(); return client ? client.serverNow() : Date.now(); };

  function status(text, isError = false) {
    setStatus($('poll-status'), text, isError);
  }

  function refusalText(err) {
    if (err.code === 'disconnected' || err.code === 'timeout') return t('chat.not_sent');
    const key = `poll.studio.error.${err.code}`;
    if (t(key) !== key) return t(key);
    return errorSentence(err.code, { detail: err.message || '' }, err.message || err.code || '');
  }

  // ---- the launcher ------------------------------------------------------------------------

  function readDrafts() {
    drafts = [...$('poll-draft-options').querySelectorAll('input[type="text"]')].map((i) => i.value);
  }

  function drawDrafts() {
    const list = $('poll-draft-options');
    list.replaceChildren(...drafts.map((text, i) => {
      const n = i + 1;
      const radio = el('input', {
        type: 'radio', name: 'poll-answer', value: String(i), checked: answer === i,
        'aria-label': t('poll.studio.right_for', { n }),
      });
      radio.addEventListener('change', () => { answer = i; renderStart(); });
      const input = el('input', {
        type: 'text', id: `poll-option-${i}`, maxLength: 60, autocomplete: 'off', value: text,
        placeholder: t('poll.studio.option', { n }), 'aria-label': t('poll.studio.option', { n }),
      });
      input.addEventListener('input', readDrafts);
      const remove = el('button', {
        type: 'button', class: 'icon-button secondary small', 'aria-label': t('poll.studio.remove_option', { n }),
        text: '×', hidden: drafts.length <= MIN_OPTIONS,
      });
      remove.addEventListener('click', () => {
        readDrafts();
        drafts.splice(i, 1);
        if (answer === i) answer = null;
        else if (answer != null && answer > i) answer -= 1;
        drawDrafts();
      });
      return el('li', { class: 'poll-draft-option' }, radio, input, remove);
    }));
    $('poll-no-answer').checked = answer == null;
    $('poll-add-option').hidden = drafts.length >= MAX_OPTIONS;
    renderStart();
  }

  function renderStart() {
    setText($('poll-start'), answer == null ? 'poll.studio.start_poll' : 'poll.studio.start_quiz');
    $('poll-start').disabled = busy || Boolean(polls.live);
  }

  async function start(event) {
    event.preventDefault();
    readDrafts();
    const question = $('poll-question-input').value.trim();
    const options = drafts.map((d) => d.trim());
    if (!question || options.some((o) => !o)) {
      status(t('poll.studio.error.poll_text_invalid'), true);
      return;
    }
    const duration = Number($('poll-duration').value);
    if (!Number.isInteger(duration) || duration < 10 || duration > 600) {
      status(t('poll.studio.error.poll_duration_out_of_range'), true);
      return;
    }
    const client = getClient();
    if (!client) return;
    busy = true;
    renderStart();
    const fields = { question, options, duration_s: duration };
    if (answer != null) fields.answer = answer;
    try {
      const ack = await client.request('poll.start', fields, { quiet: true });
      if (ack.poll && ack.poll.answer != null) answers[ack.poll.id] = ack.poll.answer;
      render();
      status(t('poll.studio.started'));
      $('poll-question-input').value = '';
      drafts = ['', ''];
      answer = null;
      drawDrafts();
    } catch (err) {
      status(refusalText(err), true);
    } finally {
      busy = false;
      renderStart();
    }
  }

  async function endNow() {
    const poll = polls.live;
    const client = getClient();
    if (!poll || !client) return;
    $('poll-end').disabled = true;
    try {
      await client.request('poll.end', { poll_id: poll.id }, { quiet: true });
      status('');
    } catch (err) {
      status(refusalText(err), true);
    } finally {
      $('poll-end').disabled = false;
    }
  }

  // ---- the running poll, or the last result -------------------------------------------------

  function drawBars(poll) {
    const list = $('poll-live-bars');
    if (drawnFor !== `${poll.id}|${language()}`) {
      list.replaceChildren(...(poll.options || []).map((text, i) => el(
        'li', { class: 'poll-bar', dataset: { option: String(i) } },
        el('span', { class: 'poll-bar-fill', 'aria-hidden': 'true' }),
        el('span', { class: 'poll-bar-text', text }),
        el('span', { class: 'poll-bar-count' }),
      )));
      drawnFor = `${poll.id}|${language()}`;
    }
    for (const row of list.children) {
      const i = Number(row.dataset.option);
      const pct = Number((poll.percentages || [])[i] || 0);
      const count = Number((poll.votes || [])[i] || 0);
      row.querySelector('.poll-bar-fill').style.width = `${pct}%`;
      row.querySelector('.poll-bar-count').textContent = `${formatNumber(count)} · ${pct}%`;
      // The host knows the answer from the start; the mark shows it to them all along.
      const known = poll.answer != null ? poll.answer : answers[poll.id];
      row.classList.toggle('right', poll.kind === 'quiz' && known === i);
    }
  }

  function renderTime(poll) {
    const timeEl = $('poll-live-time');
    if (poll.state === 'ended') {
      setText(timeEl, 'poll.studio.ended');
      return;
    }
    const left = Number(poll.ends_at || 0) - now();
    const text = left > 0 ? formatClock(left) : t('poll.closing');
    if (timeEl.textContent !== text) timeEl.textContent = text;
    timeEl.removeAttribute('data-i18n');
  }

  function render() {
    const poll = shownPoll(polls);
    $('poll-live').hidden = !poll;
    renderStart();
    if (!poll) {
      stopTicking();
      return;
    }
    const live = Boolean(polls.live) && polls.live.id === poll.id;
    $('poll-live').dataset.state = live ? 'live' : 'ended';
    setText($('poll-live-kind'), poll.kind === 'quiz' ? 'poll.kind.quiz' : 'poll.kind.poll');
    $('poll-live-question').textContent = poll.question || '';
    $('poll-end').hidden = !live;
    drawBars(poll);
    renderTime(poll);
    $('poll-live-total').textContent = tn('poll.votes', Number(poll.total || 0));
    const board = poll.state === 'ended' && poll.kind === 'quiz' ? poll.leaderboard || [] : null;
    $('poll-live-board').hidden = !board;
    if (board) {
      $('poll-live-board-list').replaceChildren(...boardRows(board, null));
      $('poll-live-board-empty').hidden = board.length > 0;
    }
    if (live) startTicking();
    else stopTicking();
  }

  function startTicking() {
    if (ticker) return;
    ticker = setInterval(() => {
      const poll = polls.live;
      if (!poll) {
        stopTicking();
        return;
      }
      renderTime(poll);
    }, TICK_MS);
  }

  function stopTicking() {
    clearInterval(ticker);
    ticker = null;
  }

  $('poll-form').addEventListener('submit', start);
  $('poll-end').addEventListener('click', endNow);
  $('poll-add-option').addEventListener('click', () => {
    readDrafts();
    if (drafts.length < MAX_OPTIONS) drafts.push('');
    drawDrafts();
    $(`poll-option-${drafts.length - 1}`).focus();
  });
  $('poll-no-answer').addEventListener('change', () => { answer = null; renderStart(); });
  drawDrafts();

  return {
    render() {
      readDrafts();
      drawDrafts();
      drawnFor = null;
      render();
    },
    roomChanged() {
      polls = initialPolls();
      drawnFor = null;
      clearText($('poll-status'));
      render();
    },
    attach(client, mine) {
      for (const type of ['welcome', 'poll.started', 'poll.tally', 'poll.ended']) {
        client.addEventListener(type, ({ detail }) => {
          if (!mine()) return;
          polls = foldPolls(polls, detail);
          if (type === 'poll.ended') clearText($('poll-status'));
          render();
        });
      }
    },
  };
}
