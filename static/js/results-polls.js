// A show's polls and quizzes on its results page: one row each, with its question, how the
// votes went (a quiz's right answer marked) and how many voted. They come with the results
// (`results.polls`, docs/analytics.md); each poll is also a moment on the chart (the results'
// markers, kind "poll").

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

export function renderResultsPolls(results) {
  const polls = (results && results.polls) || [];
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
