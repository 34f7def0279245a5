// The sign-in / create-account sheet shared by the viewer page and the studio.
//
// The sheet's markup lives once, in /static/partials/auth-sheet.html, and is added to the page
// the first time it is set up. The token
// is kept in localStorage "lc.token" by api.js; pages listen for the window event
// "lc:session" to react to sign-in and sign-out.

import { api, API_BASE, ApiError, clearSession, getToken, getUser, register, setSession, signIn } from './api.js';
import { closeOnBackdrop } from './dom.js';
import { applyTranslations, setText, t } from './i18n.js';

const USERNAME_RE = /^[a-z0-9_.-]{3,32}$/;

export function errorText(err) {
  const code = err && err.code;
  switch (code) {
    case 'unauthorized': return t('auth.error.unauthorized');
    case 'conflict': return t('auth.error.conflict');
    case 'bad_request': return t('error.bad_request', { detail: err.detail || err.message || '' });
    case 'network': return t('error.network');
    case 'rate_limited':
      return t('error.rate_limited', { seconds: Math.ceil(Number(err.retryAfter ?? 1)) });
    case 'unavailable':
    case 'overloaded': return t('error.unavailable');
    case 'forbidden': return t('error.forbidden');
    case 'not_found': return t('error.not_found');
    default: return t('error.generic');
  }
}

// Sign-in links (the demo prints them) carry a token in the fragment: "#token=...". Take it,
// keep it like a signed-in session, and drop it from the address bar so it is not shared.
export function adoptTokenFromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  if (!token) return false;
  params.delete('token');
  const rest = params.toString();
  history.replaceState(null, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
  setSession(token, null);
  return true;
}

// Checks a stored token once per page load; a refused one is forgotten.
export async function verifySession() {
  if (!getToken()) return null;
  try {
    const me = await api(`${API_BASE}/me`);
    const user = { ...(getUser() || {}), id: me.id, display_name: me.name, kind: me.kind };
    setSession(getToken(), user);
    return user;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) clearSession();
    return getToken() ? getUser() : null;
  }
}

async function loadSheet() {
  let dialog = document.getElementById('auth-sheet');
  if (dialog) return dialog;
  const response = await fetch('/static/partials/auth-sheet.html');
  document.body.insertAdjacentHTML('beforeend', await response.text());
  dialog = document.getElementById('auth-sheet');
  applyTranslations(dialog);
  return dialog;
}

export async function setupAuthSheet() {
  const dialog = await loadSheet();
  const form = document.getElementById('auth-form');
  const title = document.getElementById('auth-title');
  const signinTab = document.getElementById('auth-mode-signin');
  const registerTab = document.getElementById('auth-mode-register');
  const displayField = document.getElementById('auth-display-field');
  const username = document.getElementById('auth-username');
  const password = document.getElementById('auth-password');
  const displayName = document.getElementById('auth-display-name');
  const error = document.getElementById('auth-error');
  const submit = document.getElementById('auth-submit');
  let mode = 'signin';
  let opener = null;

  function setMode(next) {
    mode = next;
    const reg = mode === 'register';
    signinTab.setAttribute('aria-pressed', String(!reg));
    registerTab.setAttribute('aria-pressed', String(reg));
    displayField.hidden = !reg;
    password.autocomplete = reg ? 'new-password' : 'current-password';
    setText(title, reg ? 'auth.title.register' : 'auth.title.signin');
    setText(submit, reg ? 'auth.submit.register' : 'auth.submit.signin');
    error.textContent = '';
  }

  function open(next = 'signin') {
    opener = document.activeElement;
    setMode(next);
    if (!dialog.open) dialog.showModal();
    username.focus();
  }

  function close() {
    if (dialog.open) dialog.close();
  }

  dialog.addEventListener('close', () => {
    if (opener && typeof opener.focus === 'function' && document.contains(opener)) opener.focus();
  });
  closeOnBackdrop(dialog, close);
  document.getElementById('auth-close').addEventListener('click', close);
  signinTab.addEventListener('click', () => setMode('signin'));
  registerTab.addEventListener('click', () => setMode('register'));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    const name = username.value.trim().toLowerCase();
    if (!USERNAME_RE.test(name)) {
      error.textContent = t('auth.error.username');
      username.focus();
      return;
    }
    if (password.value.length < 8) {
      error.textContent = t('auth.error.password');
      password.focus();
      return;
    }
    submit.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      if (mode === 'register') {
        await register(name, password.value, displayName.value.trim() || name);
      } else {
        await signIn(name, password.value);
      }
      password.value = '';
      close();
    } catch (err) {
      error.textContent = errorText(err);
    } finally {
      submit.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });

  return { open, close };
}

// The header's account button: signs out when signed in, else opens the sheet to sign in.
export function wireAccountButton(button, sheet) {
  button.addEventListener('click', () => {
    if (getToken()) signOut({ revoke: true });
    else sheet.open('signin');
  });
}

// `revoke`: the person asked to sign out, so the server ends the token too (on every process
// and every open socket); a token the server already refused is only forgotten.
export function signOut({ revoke = false } = {}) {
  if (revoke && getToken()) {
    api(`${API_BASE}/sessions/current`, { method: 'DELETE' }).catch(() => {});
  }
  clearSession();
}

// The header's name and Sign in / Sign out button of the pages with a plain account header
// (the console, the results page).
export function renderAccountHeader() {
  const user = getToken() ? getUser() : null;
  document.getElementById('user-name').hidden = !user;
  document.getElementById('user-name').textContent = user ? (user.display_name || user.username || '') : '';
  setText(document.getElementById('account-button'), getToken() ? 'auth.sign_out' : 'auth.sign_in');
}
