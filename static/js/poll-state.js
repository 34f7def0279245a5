// A room's polls as the pages know them (docs/protocol.md, "Polls and quizzes"): one pure
// fold, `foldPolls(state, event) -> state`, shared by the viewer page and the studio. Plain
// data in and out: no DOM, no socket, no clock.
//
// `live` is the running poll with its counts so far; `last` the one that ended last, with its
// result (a quiz's answer and leaderboard); `mine` is poll id -> the option you voted, and
// `userId` whose votes those are (from the welcome). A page
// folds a fact of its own the same way: `poll.voted` {poll_id, option}, when its vote was
// acked or refused as `already_voted` (which names the option that counted).

export function initialPolls() {
  return { live: null, last: null, mine: {}, userId: null };
}

function zeros(poll) {
  return (poll.options || []).map(() => 0);
}

function counted(poll, event) {
  return { ...poll, votes: event.votes, total: event.total, percentages: event.percentages };
}

export function foldPolls(state, event) {
  switch (event.type) {
    case 'welcome': {
      const polls = event.polls || {};
      const userId = (event.you && event.you.id) || null;
      // Your votes seen before a fresh welcome stay yours; another account starts afresh.
      const mine = userId === state.userId ? { ...state.mine } : {};
      const vote = event.you && event.you.poll_vote;
      if (vote && vote.poll_id) mine[vote.poll_id] = vote.option;
      return { live: polls.live || null, last: polls.last || null, mine, userId };
    }
    case 'poll.started': {
      const poll = event.poll || {};
      if (state.last && state.last.id === poll.id) return state; // a late repeat
      const live = { ...poll, votes: zeros(poll), total: 0, percentages: zeros(poll) };
      return { ...state, live };
    }
    case 'poll.tally': {
      const { live } = state;
      // Tallies are paced and may come from any process: never let the count run back.
      if (!live || live.id !== event.poll_id || Number(event.total) < Number(live.total || 0)) return state;
      return { ...state, live: counted(live, event) };
    }
    case 'poll.ended': {
      const base = state.live && state.live.id === event.poll_id
        ? state.live
        : (state.last && state.last.id === event.poll_id ? state.last : { id: event.poll_id });
      const last = {
        ...counted(base, event),
        state: 'ended',
        end_reason: event.reason,
        ...(event.answer != null ? { answer: event.answer, leaderboard: event.leaderboard || [] } : {}),
      };
      const live = state.live && state.live.id === event.poll_id ? null : state.live;
      return { ...state, live, last };
    }
    case 'poll.voted':
      return { ...state, mine: { ...state.mine, [event.poll_id]: event.option } };
    default:
      return state;
  }
}

// The poll to show: the running one, else the last result.
export function shownPoll(state) {
  return state.live || state.last;
}

// Your place on a quiz's leaderboard (1-based), or 0.
export function placeOf(poll, userId) {
  const board = (poll && poll.leaderboard) || [];
  const i = board.findIndex((row) => row.user && row.user.id === userId);
  return i + 1;
}
