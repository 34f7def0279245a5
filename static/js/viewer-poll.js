// Polls and quizzes on the viewer page: a card over the stream with the question, the options
// as big buttons, your choice marked, live percentage bars and the time left; at the end the
// result, a quiz's right answer and its leaderboard with your own place highlighted
// (docs/protocol.md, "Polls and quizzes").
//
// The polls are folded from the room's events by poll-state.js; the server's clock decides
// (RoomClient.serverNow()). Text from the host goes in as text: nothing here reads markup.

import { $, clearText, el } from './dom.js';
import { errorSentence, formatClock, language, setText, t, tn } from './i18n.js';
import { foldPolls, initialPolls, placeOf, shownPoll } from './poll-state.js';

const TICK_MS = 250;

export function formatAnswerTime(ms) {
  const seconds = new Intl.NumberFormat(language(), { minimumFractionDigits: 1, maximumFractionDigits: 1 })
    .format(Math.max(0, Number(ms || 0)) / 1000);
  return t('poll.board.time', { seconds });
}

// A quiz's leaderboard as a list: place, name, time; `selfId`'s row marked.
export function boardRows(board, selfId) {
  return (board || []).map((row, i) => {
    const me = Boolean(selfId) && row.user && row.user.id === selfId;
    const name = (row.user && row.user.name) || t('poll.board.deleted');
    return el(
      'li',
      { class: me ? 'poll-board-row me' : 'poll-board-row', 'aria-current': me ? 'true' : null },
      el('span', { class: 'poll-board-place', text: `${i + 1}.` }),
      el('span', { class: 'poll-board-name', text: me ? t('poll.board.you', { name }) : name }),
      el('span', { class: 'poll-board-time', text: formatAnswerTime(row.ms) }),
    );
  });
}

export function setupViewerPoll({ getClient, getState, signedIn, openSignIn }) {
  let polls = initialPolls();
  let dismissed = null; // the poll id whose card the viewer closed
  let pending = null; // {pollId, option}: a vote sent, not yet answered
  let notice = null; // {key, args}
  let drawnFor = null; // the poll id and language the option buttons were made for
  let ticker = null;
  let replaying = false;

  const card = $('poll-card');
  const you = () => getState().you;
  const selfId = () => { const me = you(); return me && me.id; };
  const isHost = () => { const me = you(); return Boolean(me) && me.role === 'host'; };
  const now = () => { const client = getClient(); return client ? client.serverNow() : Date.now(); };

  function fold(event) {
    polls = foldPolls(polls, event);
  }

  function say(key, args) {
    notice = key ? { key, args } : null;
  }

  function running(poll) {
    return Boolean(poll) && Boolean(polls.live) && polls.live.id === poll.id && poll.state !== 'ended';
  }

  // ---- the option buttons ----------------------------------------------------------------

  function makeOptions(poll) {
    const list = $('poll-options');
    list.replaceChildren(...(poll.options || []).map((text, i) => {
      const button = el(
        'button',
        { type: 'button', class: 'poll-option', dataset: { option: String(i) } },
        el('span', { class: 'poll-option-fill', 'aria-hidden': 'true' }),
        el('span', { class: 'poll-option-text', text }),
        el('span', { class: 'poll-option-mark' }),
        el('span', { class: 'poll-option-pct' }),
      );
      button.addEventListener('click', () => vote(poll.id, i));
      return el('li', {}, button);
    }));
    drawnFor = `${poll.id}|${language()}`;
  }

  function renderOptions(poll) {
    if (drawnFor !== `${poll.id}|${language()}`) makeOptions(poll);
    const live = running(poll) && now() < Number(poll.ends_at || 0);
    const mine = polls.mine[poll.id];
    const voted = mine != null;
    const canVote = live && !voted && !isHost() && signedIn() && !pending;
    const showBars = !live || voted || isHost() || !signedIn();
    const ended = poll.state === 'ended';
    const quiz = poll.kind === 'quiz' && ended && poll.answer != null;
    card.dataset.bars = showBars ? 'shown' : 'hidden';
    for (const button of $('poll-options').querySelectorAll('.poll-option')) {
      const i = Number(button.dataset.option);
      const pct = Number((poll.percentages || [])[i] || 0);
      const count = Number((poll.votes || [])[i] || 0);
      button.disabled = !canVote;
      button.setAttribute('aria-pressed', String(mine === i));
      button.classList.toggle('mine', mine === i);
      button.classList.toggle('right', quiz && poll.answer === i);
      button.classList.toggle('wrong', quiz && mine === i && poll.answer !== i);
      button.querySelector('.poll-option-fill').style.width = showBars ? `${pct}%` : '0%';
      const pctEl = button.querySelector('.poll-option-pct');
      pctEl.textContent = showBars ? `${pct}%` : '';
      pctEl.title = showBars ? tn('poll.votes', count) : '';
      const mark = button.querySelector('.poll-option-mark');
      if (quiz && poll.answer === i) setText(mark, 'poll.right_answer');
      else if (mine === i) setText(mark, 'poll.your_vote');
      else clearText(mark);
    }
  }

  // ---- the card ----------------------------------------------------------------------------

  function renderTime(poll) {
    const timeEl = $('poll-time');
    if (!running(poll)) {
      clearText(timeEl);
      return;
    }
    const left = Number(poll.ends_at || 0) - now();
    const text = left > 0 ? formatClock(left) : t('poll.closing');
    if (timeEl.textContent !== text) timeEl.textContent = text;
    const label = left > 0 ? t('poll.time_left', { time: text }) : text;
    if (timeEl.getAttribute('aria-label') !== label) timeEl.setAttribute('aria-label', label);
  }

  function renderOutcome(poll) {
    const outcome = $('poll-outcome');
    const total = Number(poll.total || 0);
    const count = $('poll-total');
    count.hidden = poll.state === 'ended';
    count.textContent = tn('poll.votes', total); // not announced at every vote: not live
    if (poll.state !== 'ended') {
      clearText(outcome);
      return;
    }
    const mine = polls.mine[poll.id];
    if (poll.kind === 'quiz' && poll.answer != null) {
      const answer = (poll.options || [])[poll.answer] || '';
      const place = placeOf(poll, selfId());
      if (mine === poll.answer && place) setText(outcome, 'poll.outcome.right_place', { place });
      else if (mine === poll.answer) setText(outcome, 'poll.outcome.right');
      else if (mine != null) setText(outcome, 'poll.outcome.wrong', { answer });
      else setText(outcome, 'poll.outcome.answer', { answer });
      return;
    }
    outcome.removeAttribute('data-i18n');
    outcome.textContent = `${t('poll.outcome.final')} · ${tn('poll.votes', total)}`;
  }

  function renderBoard(poll) {
    const box = $('poll-board');
    const board = poll.state === 'ended' && poll.kind === 'quiz' ? poll.leaderboard || [] : null;
    box.hidden = !board;
    if (!board) return;
    const list = $('poll-board-list');
    $('poll-board-empty').hidden = board.length > 0;
    const key = JSON.stringify([language(), board, selfId()]);
    if (list.dataset.drawn !== key) {
      list.replaceChildren(...boardRows(board, selfId()));
      list.dataset.drawn = key;
    }
  }

  function render() {
    const poll = shownPoll(polls);
    const show = Boolean(poll) && !replaying && dismissed !== poll.id;
    card.hidden = !show;
    document.body.dataset.poll = show ? (poll.state === 'ended' ? 'ended' : 'live') : 'none';
    if (!show) {
      stopTicking();
      return;
    }
    card.dataset.pollId = poll.id;
    card.dataset.state = poll.state === 'ended' ? 'ended' : 'live';
    setText($('poll-kind'), poll.kind === 'quiz' ? 'poll.kind.quiz' : 'poll.kind.poll');
    const question = $('poll-question');
    if (question.textContent !== poll.question) question.textContent = poll.question || '';
    renderTime(poll);
    renderOptions(poll);
    renderOutcome(poll);
    renderBoard(poll);
    const live = running(poll);
    $('poll-signin').hidden = !live || signedIn();
    $('poll-close').hidden = live;
    const noticeEl = $('poll-notice');
    if (notice) setText(noticeEl, notice.key, notice.args);
    else clearText(noticeEl);
    if (live) startTicking();
    else stopTicking();
  }

  function startTicking() {
    if (ticker) return;
    ticker = setInterval(() => {
      const poll = shownPoll(polls);
      if (!poll || !running(poll)) {
        stopTicking();
        return;
      }
      renderTime(poll);
      // Time is up by the server's clock: the buttons go quiet until poll.ended comes.
      if (now() >= Number(poll.ends_at || 0)) renderOptions(poll);
    }, TICK_MS);
  }

  function stopTicking() {
    clearInterval(ticker);
    ticker = null;
  }

  // ---- voting ------------------------------------------------------------------------------

  function refusal(err) {
    if (err.code === 'disconnected' || err.code === 'timeout') return ['chat.not_sent'];
    const key = `poll.error.${err.code}`;
    if (t(key) !== key) return [key];
    return ['error.generic_detail', { detail: errorSentence(err.code, { detail: err.message || '' }, err.message || err.code || '') }];
  }

  async function vote(pollId, option) {
    if (!signedIn()) {
      openSignIn();
      return;
    }
    const client = getClient();
    if (!client || pending) return;
    pending = { pollId, option };
    say(null);
    render();
    try {
      await client.request('poll.vote', { poll_id: pollId, option }, { quiet: true });
      fold({ type: 'poll.voted', poll_id: pollId, option, counted: true });
    } catch (err) {
      const chosen = err.event && err.event.option;
      if (err.code === 'already_voted' && chosen != null) fold({ type: 'poll.voted', poll_id: pollId, option: chosen });
      const [key, args] = refusal(err);
      say(key, args);
    } finally {
      pending = null;
      render();
    }
  }

  $('poll-signin').addEventListener('click', () => openSignIn());
  $('poll-close').addEventListener('click', () => {
    const poll = shownPoll(polls);
    dismissed = poll ? poll.id : null;
    render();
  });

  return {
    attach(client) {
      for (const type of ['welcome', 'poll.started', 'poll.tally', 'poll.ended']) {
        client.addEventListener(type, ({ detail }) => {
          fold(detail);
          if (type === 'poll.started') say(null);
          render();
        });
      }
    },
    render,
    // An ended show's replay: the live card gives way to the replay's marks (viewer-replay.js).
    replay() {
      replaying = true;
      render();
    },
  };
}
