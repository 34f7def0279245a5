// Giveaways on the viewer page: the card with the prize, its countdown and the kind's rule in
// plain words, Enter (or "No purchase necessary - enter free" for a buyers' giveaway), the live
// entrant count, the result with the winner, "Verify the draw" (recomputed here with
// crypto.subtle, giveaway-draw.js), and for the winner a sheet for the shipping address
// (docs/protocol.md, "Giveaways"; docs/giveaways.md).
//
// Entering goes only through the socket: being in the room is being present. The server's
// clock decides when entries close; the countdown runs against RoomClient.serverNow().

import { api, API_BASE } from './api.js';
import { errorText } from './auth.js';
import { $, clearText, closeOnBackdrop, el, option } from './dom.js';
import { errorSentence, formatClock, formatNumber, setText, t, tn } from './i18n.js';
import { canVerify, recompute } from './giveaway-draw.js';

const TICK_MS = 250;
const ADDRESS_FIELDS = [
  ['name', 'shipping name', 100, true],
  ['line1', 'shipping address-line1', 200, true],
  ['line2', 'shipping address-line2', 200, false],
  ['postal_code', 'shipping postal-code', 20, true],
  ['city', 'shipping address-level2', 100, true],
];

export function setupViewerGiveaway({ roomId, getClient, getState, signedIn, openSignIn }) {
  let giveaway = null; // the running giveaway, or the last result (the server's public shape)
  let entered = false; // you entered `giveaway`
  let count = 0; // entrants, the highest told
  let prize = null; // your prize order awaiting its address
  let busy = false;
  let notice = null; // {key, args, tone}
  let ticker = null;
  let replaying = false;
  let prizesRead = null;

  const now = () => { const client = getClient(); return client ? client.serverNow() : Date.now(); };
  const you = () => getState().you;
  const staff = () => { const me = you(); return Boolean(me) && (me.role === 'host' || me.role === 'moderator'); };
  const over = () => replaying || Boolean(getState().room && getState().room.state === 'ended');
  const active = () => Boolean(giveaway) && giveaway.state === 'active' && !over();
  const hostName = () => { const r = getState().room; return (r && r.host && r.host.name) || ''; };

  // ---- the card, made once, where the product card sits --------------------------------

  const card = el('article', { id: 'giveaway-card', class: 'giveaway-card', hidden: true, 'aria-labelledby': 'giveaway-title' });
  const image = el('img', { id: 'giveaway-image', class: 'giveaway-image', alt: '', width: 56, height: 56, decoding: 'async', hidden: true });
  const kicker = el('p', { class: 'giveaway-kicker', id: 'giveaway-kicker' });
  const title = el('h3', { id: 'giveaway-title', class: 'giveaway-title' });
  const rule = el('p', { id: 'giveaway-rule', class: 'giveaway-rule' });
  const time = el('span', { id: 'giveaway-time', class: 'giveaway-time', role: 'timer', 'aria-atomic': 'true' });
  const counter = el('p', { id: 'giveaway-count', class: 'giveaway-count', 'aria-live': 'polite' });
  const enterButton = el('button', { type: 'button', id: 'giveaway-enter', class: 'primary giveaway-enter' });
  const freeButton = el('button', { type: 'button', id: 'giveaway-free', class: 'secondary giveaway-free', hidden: true });
  const actions = el('div', { class: 'giveaway-actions', id: 'giveaway-actions' }, enterButton, freeButton);
  const result = el('p', { id: 'giveaway-result', class: 'giveaway-result', role: 'status', 'aria-live': 'polite', hidden: true });
  const verifyButton = el('button', { type: 'button', id: 'giveaway-verify', class: 'link-button giveaway-verify', hidden: true });
  const wonTitle = el('h3', { id: 'giveaway-won-title', class: 'giveaway-won-title' });
  const wonText = el('p', { id: 'giveaway-won-text', class: 'giveaway-won-text' });
  const claimButton = el('button', { type: 'button', id: 'giveaway-claim', class: 'primary' });
  const won = el('section', { id: 'giveaway-won', class: 'giveaway-won', hidden: true, 'aria-labelledby': 'giveaway-won-title' }, wonTitle, wonText, claimButton);
  const noticeEl = el('p', { id: 'giveaway-notice', class: 'giveaway-notice', role: 'status', 'aria-live': 'polite' });
  card.append(
    el('div', { class: 'giveaway-head' },
      image,
      el('div', { class: 'giveaway-info' }, kicker, title, rule),
      el('div', { class: 'giveaway-clock' }, time)),
    counter, actions, result, verifyButton, won, noticeEl,
  );
  $('product-slot').prepend(card);

  // ---- the verify sheet and the address sheet -------------------------------------------

  const verifyTitle = el('h2', { id: 'verify-title' });
  const verifyClose = el('button', { type: 'button', class: 'icon-button', id: 'verify-close' }, el('span', { 'aria-hidden': 'true', text: '✕' }));
  const verifyBody = el('div', { id: 'verify-body', class: 'verify-body' });
  const verifySheet = el('dialog', { id: 'verify-sheet', class: 'sheet verify-sheet', 'aria-labelledby': 'verify-title' },
    el('div', { class: 'sheet-body' }, el('div', { class: 'sheet-head' }, verifyTitle, verifyClose), verifyBody));
  document.body.append(verifySheet);
  closeOnBackdrop(verifySheet);
  verifyClose.addEventListener('click', () => verifySheet.close());

  const claimTitle = el('h2', { id: 'claim-title' });
  const claimClose = el('button', { type: 'button', class: 'icon-button', id: 'claim-close' }, el('span', { 'aria-hidden': 'true', text: '✕' }));
  const claimIntro = el('p', { id: 'claim-intro', class: 'claim-intro' });
  const inputs = {};
  const fields = ADDRESS_FIELDS.map(([name, autocomplete, max, required]) => {
    const input = el('input', { id: `claim-${name}`, name, autocomplete, maxLength: max, required });
    inputs[name] = input;
    return el('div', { class: 'field' }, el('label', { htmlFor: input.id, dataset: { key: `giveaway.claim.${name}` } }), input);
  });
  const country = el('select', { id: 'claim-country', name: 'country', autocomplete: 'shipping country', required: true });
  fields.push(el('div', { class: 'field' }, el('label', { htmlFor: 'claim-country', dataset: { key: 'giveaway.claim.country' } }), country));
  const claimError = el('p', { id: 'claim-error', class: 'form-error', role: 'alert' });
  const claimSubmit = el('button', { type: 'submit', id: 'claim-submit', class: 'primary wide' });
  const claimForm = el('form', { id: 'claim-form', class: 'sheet-body', noValidate: true },
    el('div', { class: 'sheet-head' }, claimTitle, claimClose), claimIntro,
    el('fieldset', {}, el('legend', { dataset: { key: 'giveaway.claim.shipping' } }), ...fields),
    claimError, claimSubmit);
  const claimSheet = el('dialog', { id: 'claim-sheet', class: 'sheet claim-sheet', 'aria-labelledby': 'claim-title' }, claimForm);
  // In the page only while open: its address fields must not stand beside the checkout's.
  claimSheet.addEventListener('close', () => claimSheet.remove());
  closeOnBackdrop(claimSheet);
  claimClose.addEventListener('click', () => claimSheet.close());

  function labelSheets() {
    for (const node of [claimForm, verifySheet]) {
      for (const labelled of node.querySelectorAll('[data-key]')) labelled.textContent = t(labelled.dataset.key);
    }
    setText(verifyTitle, 'giveaway.verify.title');
    verifyClose.setAttribute('aria-label', t('common.close'));
    setText(claimTitle, 'giveaway.claim.title');
    claimClose.setAttribute('aria-label', t('common.close'));
    setText(claimSubmit, 'giveaway.claim.submit');
  }

  // ---- rendering -------------------------------------------------------------------------

  function say(key, args, tone = 'info') {
    notice = key ? { key, args, tone } : null;
    noticeEl.classList.remove('error', 'ok');
    if (!notice) {
      clearText(noticeEl);
      return;
    }
    if (tone !== 'info') noticeEl.classList.add(tone);
    setText(noticeEl, key, args);
  }

  function ruleKey(kind) {
    if (kind === 'followers') return ['giveaway.rule.followers', { name: hostName() }];
    if (kind === 'buyers') return ['giveaway.rule.buyers', {}];
    return ['giveaway.rule.standard', {}];
  }

  function resultKey(g) {
    const r = g.result || {};
    const prizeTitle = (g.product && g.product.title) || '';
    if (r.reason === 'drawn' && r.winner) {
      const me = you();
      if (me && me.id === r.winner.id) return ['giveaway.result.you', { title: prizeTitle }];
      return ['giveaway.result.drawn', { name: r.winner.name || '', title: prizeTitle }];
    }
    if (r.reason === 'no_entrants') return ['giveaway.result.no_entrants', { title: prizeTitle }];
    return ['giveaway.result.cancelled', { title: prizeTitle }];
  }

  function renderTimer() {
    if (!giveaway) return;
    const left = Math.max(0, Number(giveaway.ends_at || 0) - now());
    const text = giveaway.state === 'active' && left > 0 ? formatClock(left) : t('giveaway.closing');
    if (time.textContent !== text) time.textContent = text;
    const label = left > 0 ? t('giveaway.time_left', { time: text }) : text;
    if (time.getAttribute('aria-label') !== label) time.setAttribute('aria-label', label);
    const closed = left <= 0;
    enterButton.disabled = busy || closed || entered;
    freeButton.disabled = busy || closed;
    time.parentElement.hidden = giveaway.state !== 'active';
  }

  function renderWon() {
    won.hidden = !prize;
    if (!prize) return;
    const line = (prize.lines || [])[0] || {};
    setText(wonTitle, 'giveaway.won.title');
    setText(wonText, 'giveaway.won.text', { title: line.title || '' });
    setText(claimButton, 'giveaway.won.claim');
  }

  function render() {
    const show = Boolean(prize) || (Boolean(giveaway) && !over());
    card.hidden = !show;
    document.body.dataset.giveaway = active() ? 'active' : 'none';
    renderWon();
    if (!giveaway || over()) {
      for (const node of [actions, counter, result, verifyButton]) node.hidden = true;
      card.querySelector('.giveaway-head').hidden = !giveaway || over();
      stopTicker();
      return;
    }
    card.querySelector('.giveaway-head').hidden = false;
    card.dataset.state = giveaway.state;
    card.dataset.giveawayId = giveaway.id;
    const product = giveaway.product || {};
    setText(kicker, 'giveaway.kicker');
    setText(title, 'giveaway.prize', { title: product.title || '' });
    if (product.image_url) {
      image.hidden = false;
      if (image.getAttribute('src') !== product.image_url) image.src = product.image_url;
    } else {
      image.hidden = true;
    }
    const [rk, ra] = ruleKey(giveaway.kind);
    setText(rule, rk, ra);
    const n = Math.max(count, Number(giveaway.entrants || 0));
    counter.hidden = false;
    counter.textContent = tn('giveaway.entrants', n);
    const running = giveaway.state === 'active';
    actions.hidden = !running || staff();
    if (entered) {
      setText(enterButton, 'giveaway.entered');
      enterButton.classList.add('done');
    } else {
      setText(enterButton, 'giveaway.enter');
      enterButton.classList.remove('done');
    }
    freeButton.hidden = giveaway.kind !== 'buyers' || entered;
    setText(freeButton, 'giveaway.free_entry');
    const ended = giveaway.state === 'ended';
    result.hidden = !ended;
    verifyButton.hidden = !ended || !giveaway.result || giveaway.result.reason === 'cancelled';
    if (ended) {
      const [key, args] = resultKey(giveaway);
      setText(result, key, args);
      result.dataset.reason = (giveaway.result && giveaway.result.reason) || '';
      setText(verifyButton, 'giveaway.verify.open');
    }
    renderTimer();
    if (running) startTicker();
    else stopTicker();
  }

  function startTicker() {
    if (!ticker) ticker = setInterval(renderTimer, TICK_MS);
  }

  function stopTicker() {
    clearInterval(ticker);
    ticker = null;
  }

  // ---- entering --------------------------------------------------------------------------

  async function enter(free) {
    if (!signedIn()) {
      say('giveaway.sign_in');
      openSignIn();
      return;
    }
    const client = getClient();
    if (!client || busy || !giveaway) return;
    busy = true;
    render();
    try {
      const reply = await client.request('giveaway.enter', { giveaway_id: giveaway.id, free_entry: free }, { quiet: true });
      entered = true;
      count = Math.max(count, Number(reply.count || 0));
      say(reply.method === 'free' ? 'giveaway.entered_free' : 'giveaway.entered_note', undefined, 'ok');
    } catch (err) {
      refusal(err);
    } finally {
      busy = false;
      render();
    }
  }

  function refusal(err) {
    const known = ['giveaway_not_active', 'giveaway_staff', 'not_a_follower', 'not_a_buyer', 'banned'];
    if (err.code === 'timeout' || err.code === 'disconnected') say('giveaway.error.not_sent', undefined, 'error');
    else if (err.code === 'unauthorized') {
      openSignIn();
      say('giveaway.sign_in');
    } else if (known.includes(err.code)) say(`giveaway.error.${err.code}`, { name: hostName() }, 'error');
    else say('error.generic_detail', { detail: errorText(err) }, 'error');
  }

  // ---- verifying the draw ----------------------------------------------------------------

  function fact(label, value, className = '') {
    return [el('dt', { text: label }), el('dd', { class: className, text: value })];
  }

  async function openVerify() {
    if (!giveaway) return;
    labelSheets();
    verifyBody.replaceChildren(el('p', { text: t('giveaway.verify.loading') }));
    if (!verifySheet.open) verifySheet.showModal();
    let data;
    try {
      data = await api(`${API_BASE}/giveaways/${encodeURIComponent(giveaway.id)}`, { auth: false });
    } catch (err) {
      verifyBody.replaceChildren(el('p', { class: 'form-error', text: errorText(err) }));
      return;
    }
    const r = data.result || {};
    const ids = r.entrant_ids || [];
    const winnerId = r.winner ? r.winner.id : null;
    const facts = el('dl', { class: 'verify-facts' },
      ...fact(t('giveaway.verify.commitment'), data.commitment, 'verify-hash'),
      ...fact(t('giveaway.verify.seed'), r.seed || '', 'verify-hash'),
      ...fact(t('giveaway.verify.entrants'), formatNumber(ids.length)),
      ...fact(t('giveaway.verify.winner'), r.winner ? `${r.winner.name} (${r.winner.id})` : t('giveaway.verify.nobody')));
    const list = el('details', { class: 'verify-list' },
      el('summary', { text: t('giveaway.verify.list') }),
      el('ol', { start: 0 }, ...ids.map((id) => el('li', { text: id }))));
    const outcome = el('p', { id: 'verify-outcome', class: 'verify-outcome', role: 'status' });
    const how = el('p', { class: 'hint', text: t('giveaway.verify.how') });
    verifyBody.replaceChildren(how, facts, list, outcome);
    if (!canVerify()) {
      setText(outcome, 'giveaway.verify.unsupported');
      return;
    }
    const check = await recompute({ commitment: data.commitment, seed: r.seed, ids });
    const ok = check.commitmentOk && check.sorted && check.winner === winnerId;
    outcome.classList.toggle('ok', ok);
    outcome.classList.toggle('error', !ok);
    outcome.dataset.verified = ok ? 'yes' : 'no';
    if (ok && winnerId) setText(outcome, 'giveaway.verify.ok', { index: check.index, id: winnerId });
    else if (ok) setText(outcome, 'giveaway.verify.ok_nobody');
    else setText(outcome, 'giveaway.verify.failed');
  }

  // ---- the winner's address --------------------------------------------------------------

  function fillCountries() {
    const source = $('ship-country');
    const chosen = country.value;
    country.replaceChildren(...Array.from(source ? source.options : [], (o) => option(o.value, o.textContent)));
    country.value = chosen || (source ? source.value : '');
  }

  function openClaim() {
    if (!prize) return;
    labelSheets();
    fillCountries();
    const line = (prize.lines || [])[0] || {};
    setText(claimIntro, 'giveaway.claim.intro', { title: line.title || '' });
    claimError.textContent = '';
    if (!claimSheet.isConnected) document.body.append(claimSheet);
    if (!claimSheet.open) claimSheet.showModal();
    inputs.name.focus();
  }

  async function submitClaim(event) {
    event.preventDefault();
    if (!prize) return;
    const address = { country: country.value };
    for (const [name, , , required] of ADDRESS_FIELDS) {
      const value = inputs[name].value.trim();
      inputs[name].removeAttribute('aria-invalid');
      if (required && !value) {
        inputs[name].setAttribute('aria-invalid', 'true');
        claimError.textContent = t('giveaway.claim.missing');
        inputs[name].focus();
        return;
      }
      address[name] = value;
    }
    claimSubmit.disabled = true;
    try {
      await api(`${API_BASE}/orders/${encodeURIComponent(prize.id)}/claim`, { method: 'POST', body: { address } });
      const line = (prize.lines || [])[0] || {};
      prize = null;
      claimSheet.close();
      say('giveaway.claim.done', { title: line.title || '' }, 'ok');
      render();
    } catch (err) {
      claimError.textContent = errorSentence(err.code, { detail: errorText(err) }, errorText(err));
    } finally {
      claimSubmit.disabled = false;
    }
  }

  // A prize is told once, as it is drawn: after a reload the prizes still awaiting an address
  // are read from the winner's orders.
  async function readPrizes() {
    const me = you();
    if (!signedIn() || !me || prizesRead === me.id) return;
    prizesRead = me.id;
    try {
      const data = await api(`${API_BASE}/orders`);
      const mine = ((data && data.orders) || []).find((o) => o.kind === 'giveaway'
        && o.state === 'awaiting_address' && String(o.room_id) === String(roomId));
      if (mine) prize = mine;
    } catch {
      prizesRead = null;
      return;
    }
    render();
  }

  // ---- wiring ----------------------------------------------------------------------------

  enterButton.addEventListener('click', () => enter(false));
  freeButton.addEventListener('click', () => enter(true));
  verifyButton.addEventListener('click', openVerify);
  claimButton.addEventListener('click', openClaim);
  claimForm.addEventListener('submit', submitClaim);
  claimForm.addEventListener('input', ({ target }) => {
    if (target.getAttribute('aria-invalid') && target.value.trim()) {
      target.removeAttribute('aria-invalid');
      claimError.textContent = '';
    }
  });
  window.addEventListener('lc:languagechange', () => {
    labelSheets();
    render();
  });
  window.addEventListener('lc:session', () => {
    notice = null;
    prize = null;
    prizesRead = null;
    entered = false;
    render();
  });
  labelSheets();

  return {
    render,
    replay() {
      replaying = true;
      render();
    },
    attach(client) {
      client.addEventListener('welcome', ({ detail }) => {
        const next = detail.giveaway || null;
        if (!next || !giveaway || next.id !== giveaway.id) count = 0;
        giveaway = next;
        entered = Boolean(detail.you && detail.you.giveaway_entered);
        render();
        readPrizes();
      });
      client.addEventListener('giveaway.started', ({ detail }) => {
        giveaway = detail.giveaway;
        entered = false;
        count = 0;
        say(null);
        render();
      });
      client.addEventListener('giveaway.entered', ({ detail }) => {
        if (!giveaway || giveaway.id !== detail.giveaway_id || giveaway.state !== 'active') return;
        count = Math.max(count, Number(detail.count || 0));
        counter.textContent = tn('giveaway.entrants', Math.max(count, Number(giveaway.entrants || 0)));
      });
      client.addEventListener('giveaway.ended', ({ detail }) => {
        if (!giveaway || giveaway.id !== detail.giveaway_id) return;
        giveaway = {
          ...giveaway,
          state: 'ended',
          entrants: detail.entrants,
          result: { reason: detail.reason, winner: detail.winner, seed: detail.seed, entrant_ids: null },
        };
        count = Number(detail.entrants || 0);
        say(null);
        render();
      });
      // Private, and it may come before giveaway.ended: the prize sheet waits for no one.
      client.addEventListener('giveaway.won', ({ detail }) => {
        prize = detail.order;
        render();
      });
      client.addEventListener('room.state', render);
    },
  };
}
