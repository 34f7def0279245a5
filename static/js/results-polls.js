// A show's polls and quizzes on its results page: one row each, with its question, how the
// votes went (a quiz's right answer marked) and how many voted. Read from
// GET /api/v1/rooms/{id}/polls (docs/protocol.md, "Polls and quizzes"); each poll is also a
// moment on the chart (the results' markers, kind "poll").

import { api, API_BASE } from './api.js';
import { $, el } from './dom.js';
import { formatNumber, formatTime, t } from './i18n.js';

// The options of a poll as the table shows them: "Wool 67%", the right answer marked.
export function optionCells(poll) {
  return (poll.options || []).map((text, i) => {
    const right = poll.kind === 'quiz' && poll.answer === i;
    const pct = Number((poll.percentages || [])[i] || 0);
    const label = right ? `${text} · ${pct}% · ${t('poll.right_answer')}` : `${text} · ${pct}%`;
    return el('li', { class: right ? 'right' : null, text: label });
  });
}

export function setupResultsPolls(roomId) {
  let polls = [];

  function render() {
    $('polls-card').hidden = polls.length === 0;
    $('polls-rows').replaceChildren(...polls.map((poll) => el(
      'tr', { dataset: { pollId: poll.id } },
      el('th', { scope: 'row' },
        el('span', { class: 'poll-table-question', text: `${poll.kind === 'quiz' ? t('poll.kind.quiz') : t('poll.kind.poll')}: ${poll.question}` }),
        el('time', { dateTime: new Date(poll.starts_at).toISOString(), text: formatTime(poll.starts_at) })),
      el('td', {}, el('ul', { class: 'poll-table-options' }, ...optionCells(poll))),
      el('td', { class: 'num', text: formatNumber(Number(poll.total || 0)) }),
    )));
  }

  return {
    async load() {
      try {
        polls = (await api(`${API_BASE}/rooms/${encodeURIComponent(roomId)}/polls`)).polls || [];
      } catch {
        return; // the figures above are what the page is for; the table waits for next time
      }
      render();
    },
    render,
  };
}
