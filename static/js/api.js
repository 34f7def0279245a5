// Small fetch wrapper for the HTTP API under /api/v1.
//
// Sends the stored token as a Bearer token and turns problem+json answers (RFC 9457) into a
// thrown ApiError carrying the stable `code`, the HTTP status and `retry_after` when given.

import { el } from './dom.js';

const TOKEN_KEY = 'lc.token';
const USER_KEY = 'lc.user';
export const API_BASE = '/api/v1';

export class ApiError extends Error {
  constructor({ status = 0, code = 'network', message = '', detail = '', retryAfter = null } = {}) {
    super(message || detail || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

export function getToken() {
  try { return localStorage.getItem(TOKEN_KEY); } catch { return null; }
}

export function getUser() {
  try { return JSON.parse(localStorage.getItem(USER_KEY) || 'null'); } catch { return null; }
}

export function setSession(token, user) {
  try {
    localStorage.setItem(TOKEN_KEY, token);
    localStorage.setItem(USER_KEY, JSON.stringify(user ?? null));
  } catch { /* storage may be blocked: the session then lasts for this page only */ }
  window.dispatchEvent(new CustomEvent('lc:session', { detail: { token, user } }));
}

export function clearSession() {
  try {
    localStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(USER_KEY);
  } catch { /* ignore */ }
  window.dispatchEvent(new CustomEvent('lc:session', { detail: { token: null, user: null } }));
}

function codeForStatus(status) {
  return ({ 400: 'bad_request', 401: 'unauthorized', 402: 'payment_declined', 403: 'forbidden', 404: 'not_found',
    409: 'conflict', 413: 'too_large', 429: 'rate_limited', 503: 'unavailable' })[status] || 'internal';
}

// `contentType` sends `body` as it is (a string or a Blob, such as a CSV file) with that type;
// without it a body goes as JSON.
export async function api(path, { method = 'GET', body, auth = true, headers = {}, contentType = null } = {}) {
  const init = { method, headers: { Accept: 'application/json, application/problem+json', ...headers } };
  const token = auth ? getToken() : null;
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined && contentType) {
    init.headers['Content-Type'] = contentType;
    init.body = body;
  } else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path.startsWith('/') ? path : `${API_BASE}/${path}`, init);
  } catch (err) {
    throw new ApiError({ code: 'network', message: String(err && err.message || err) });
  }
  const type = response.headers.get('Content-Type') || '';
  let data = null;
  if (type.includes('json')) {
    try { data = await response.json(); } catch { data = null; }
  }
  if (!response.ok) {
    const header = response.headers.get('Retry-After');
    const retryAfter = data && data.retry_after != null ? Number(data.retry_after)
      : header != null && header !== '' && !Number.isNaN(Number(header)) ? Number(header) : null;
    throw new ApiError({
      status: response.status,
      code: (data && data.code) || codeForStatus(response.status),
      message: (data && (data.detail || data.title)) || response.statusText,
      detail: (data && data.detail) || '',
      retryAfter,
    });
  }
  return data;
}

export const signIn = async (username, password) => {
  const session = await api(`${API_BASE}/sessions`, { method: 'POST', body: { username, password }, auth: false });
  setSession(session.token, session.user);
  return session;
};

export const register = async (username, password, displayName) => {
  await api(`${API_BASE}/accounts`, {
    method: 'POST', auth: false,
    body: { username, password, display_name: displayName || username },
  });
  return signIn(username, password);
};

let configPromise = null;
export function getConfig() {
  if (!configPromise) {
    configPromise = api(`${API_BASE}/config`, { auth: false }).catch((err) => {
      configPromise = null;
      throw err;
    });
  }
  return configPromise;
}

// Downloads a file that needs the Bearer token (a plain link cannot send it).
export async function download(path, filename) {
  const headers = {};
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { headers });
  } catch (err) {
    throw new ApiError({ code: 'network', message: String(err && err.message || err) });
  }
  if (!response.ok) {
    let data = null;
    try { data = await response.json(); } catch { data = null; }
    throw new ApiError({
      status: response.status,
      code: (data && data.code) || codeForStatus(response.status),
      message: (data && (data.detail || data.title)) || response.statusText,
      detail: (data && data.detail) || '',
    });
  }
  const url = URL.createObjectURL(await response.blob());
  const a = el('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
