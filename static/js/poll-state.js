// A room's polls as the pages know them (docs/protocol.md, "Polls and quizzes"): one pure
// fold, `foldPolls(state, event) -> state`, shared by the viewer page and the studio. Plain
// data in and out: no DOM, no socket, no clock.
//
// `live` is the running poll with its counts so far; `last` the one that ended last, with its
// result (a quiz's answer and leaderboard); `mine` is poll id -> the option you voted, and
// `userId` whose votes those are (from the welcome). A page
// folds a fact of its own the same way: `poll.voted` {poll_id, option, counted?}, when its vote
// was acked (`counted`: it is added to the counts shown) or refused as `already_voted` (which
// names the option that counted).

export function initialPolls() {
  return { live: null, last: null, mine: {}, userId: null };
}

// Whole percentages that sum to 100 (all 0 with no votes): each share rounded down, the points
// left to the largest remainders, the earlier option first (as the server's rules.percentages).
export function percentages(votes) {
  const total = votes.reduce((sum, v) => sum + v, 0);
  if (total <= 0) return votes.map(() => 0);
  const shares = votes.map((v) => Math.floor((100 * v) / total));
  const order = votes.map((v, i) => i).sort((a, b) => ((100 * votes[b]) % total) - ((100 * votes[a]) % total) || a - b);
  let left = 100 - shares.reduce((sum, v) => sum + v, 0);
  for (const i of order) {
    if (left <= 0) break;
    shares[i] += 1;
    left -= 1;
  }
  return shares;
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
    case 'poll.voted': {
      const mine = { ...state.mine, [event.poll_id]: event.option };
      const { live } = state;
      // Your own vote, just counted: shown at once, until the next tally says the same.
      if (!event.counted || !live || live.id !== event.poll_id) return { ...state, mine };
      const votes = (live.votes || zeros(live)).map((v, i) => v + (i === event.option ? 1 : 0));
      const total = Number(live.total || 0) + 1;
      return { ...state, mine, live: { ...live, votes, total, percentages: percentages(votes) } };
    }
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
