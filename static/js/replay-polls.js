// An ended show's polls on its replay: each poll's final result appears when the replay reaches
// the moment it ended ("Which colour? Rust (67%)"; for a quiz, its right answer), and stays.
// The polls are the room's (GET /api/v1/rooms/{id}/polls, docs/protocol.md, "Polls and
// quizzes"); the replay's position is a moment of the show (viewer-replay.js).

import { api, API_BASE } from './api.js';
import { $, el } from './dom.js';
import { t } from './i18n.js';

// The option a poll's result names: a quiz's right answer, else the most voted (the earlier
// of equals).
export function leadingOption(poll) {
  if (poll.kind === 'quiz' && poll.answer != null) return poll.answer;
  const votes = poll.votes || [];
  let best = 0;
  votes.forEach((v, i) => { if (v > votes[best]) best = i; });
  return best;
}

// The ended polls, in the order they ended, each with the sentence the replay shows and the
// show's moment (ms) from which it shows.
export function pollMarks(polls) {
  return (polls || [])
    .filter((p) => p && p.state === 'ended' && Number(p.ended_at) > 0 && (p.options || []).length)
    .sort((a, b) => a.ended_at - b.ended_at)
    .map((p) => {
      const i = leadingOption(p);
      return {
        id: p.id,
        at: Number(p.ended_at),
        kind: p.kind,
        text: t('poll.replay.mark', {
          question: p.question, option: p.options[i], percent: Number((p.percentages || [])[i] || 0),
        }),
      };
    });
}

export function setupReplayPolls({ roomId }) {
  let polls = [];
  let drawn = null;

  return {
    async load() {
      try {
        const data = await api(`${API_BASE}/rooms/${encodeURIComponent(roomId)}/polls`, { auth: false });
        polls = Array.isArray(data && data.polls) ? data.polls : [];
      } catch {
        polls = []; // a replay without its polls' results is still a replay
      }
    },
    // `at`: the show's moment the replay shows now (ms), or null when nothing plays.
    render(at) {
      const marks = at == null ? [] : pollMarks(polls).filter((m) => m.at <= at);
      $('replay-polls').hidden = marks.length === 0;
      const key = JSON.stringify([marks, t('poll.replay.heading')]);
      if (key === drawn) return;
      drawn = key;
      $('replay-polls-list').replaceChildren(...marks.map((m) => el(
        'li', { class: `replay-lot replay-poll ${m.kind}`, dataset: { pollId: m.id } },
        el('span', { class: 'replay-lot-text', text: m.text }),
      )));
    },
  };
}
