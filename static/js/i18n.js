// Translations and locale-aware formatting for every page.
//
// Strings live in /static/locales/{lang}.json (flat "dotted.key": "text" maps, the same keys
// in every file). Elements name their string with data-i18n (textContent),
// data-i18n-placeholder, data-i18n-aria-label or data-i18n-title; a string may hold {name}
// placeholders filled from data-i18n-args (JSON) or the args given to t().

import { el } from './dom.js';

export const LANGUAGES = ['en', 'nb', 'sv', 'nl', 'lv'];
const STORAGE_KEY = 'lc.lang';
const ASSET_BASE = new URL('../', import.meta.url); // .../static/

let current = 'en';
let strings = {};
let fallback = {};
const cache = new Map();

async function load(lang) {
  if (!cache.has(lang)) {
    cache.set(lang, fetch(new URL(`locales/${lang}.json`, ASSET_BASE)).then((r) => {
      if (!r.ok) throw new Error(`locale ${lang}: HTTP ${r.status}`);
      return r.json();
    }));
  }
  try {
    return await cache.get(lang);
  } catch (err) {
    cache.delete(lang);
    throw err;
  }
}

// "nb-NO" -> "nb"; Norwegian without a script ("no", "nn") reads Bokmål best.
export function matchLanguage(tag) {
  if (!tag) return null;
  const base = String(tag).toLowerCase().split(/[-_]/)[0];
  if (base === 'no' || base === 'nn') return 'nb';
  return LANGUAGES.includes(base) ? base : null;
}

export function pickLanguage() {
  let stored = null;
  try { stored = localStorage.getItem(STORAGE_KEY); } catch { /* storage may be blocked */ }
  const fromStore = matchLanguage(stored);
  if (fromStore) return fromStore;
  for (const tag of navigator.languages || [navigator.language]) {
    const lang = matchLanguage(tag);
    if (lang) return lang;
  }
  return 'en';
}

export function language() {
  return current;
}

function fill(text, args) {
  if (!args) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in args ? String(args[name]) : whole));
}

export function t(key, args) {
  const text = strings[key] ?? fallback[key] ?? key;
  return fill(text, args);
}

// Plural-aware lookup: tries "key.zero|one|two|few|many|other" by the language's rules.
export function tn(key, count, args = {}) {
  const category = new Intl.PluralRules(current).select(count);
  const full = { count: formatNumber(count), ...args };
  for (const k of [`${key}.${category}`, `${key}.other`]) {
    if (k in strings || k in fallback) return t(k, full);
  }
  return t(key, full);
}

// The sentence for a server error code (`error.<code>` with `args`), or, for a code the
// pages have no sentence for, the generic one naming `detail`.
export function errorSentence(code, args, detail) {
  const key = `error.${code}`;
  return t(key) !== key ? t(key, args) : t('error.generic_detail', { detail });
}

function argsOf(el) {
  const raw = el.getAttribute('data-i18n-args');
  if (!raw) return undefined;
  try { return JSON.parse(raw); } catch { return undefined; }
}

export function applyTranslations(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    el.textContent = t(el.getAttribute('data-i18n'), argsOf(el));
  }
  for (const [attr, target] of [
    ['data-i18n-placeholder', 'placeholder'],
    ['data-i18n-aria-label', 'aria-label'],
    ['data-i18n-title', 'title'],
    ['data-i18n-content', 'content'],
  ]) {
    for (const el of root.querySelectorAll(`[${attr}]`)) {
      el.setAttribute(target, t(el.getAttribute(attr), argsOf(el)));
    }
  }
}

// Set an element's string by key and keep it updated on language change.
export function setText(el, key, args) {
  el.setAttribute('data-i18n', key);
  if (args) el.setAttribute('data-i18n-args', JSON.stringify(args));
  else el.removeAttribute('data-i18n-args');
  el.textContent = t(key, args);
}

export async function setLanguage(lang) {
  const chosen = matchLanguage(lang) || 'en';
  fallback = await load('en');
  try {
    strings = await load(chosen);
    current = chosen;
  } catch (err) {
    console.warn(err);
    strings = fallback;
    current = 'en';
  }
  document.documentElement.lang = current;
  applyTranslations();
  for (const select of document.querySelectorAll('select[data-lang-switch]')) select.value = current;
  window.dispatchEvent(new CustomEvent('lc:languagechange', { detail: { lang: current } }));
}

function wireSwitch(select) {
  select.replaceChildren();
  for (const lang of LANGUAGES) {
    select.append(el('option', { value: lang, lang, 'data-i18n': `language.${lang}`, text: t(`language.${lang}`) }));
  }
  select.value = current;
  select.addEventListener('change', () => {
    try { localStorage.setItem(STORAGE_KEY, select.value); } catch { /* ignore */ }
    setLanguage(select.value);
  });
}

export async function initI18n() {
  await setLanguage(pickLanguage());
  for (const select of document.querySelectorAll('select[data-lang-switch]')) wireSwitch(select);
  return current;
}

// ---- Intl formatting -------------------------------------------------------------------

export function formatNumber(n) {
  return new Intl.NumberFormat(current).format(n);
}

export function formatDateTime(ms) {
  if (ms == null) return '';
  return new Intl.DateTimeFormat(current, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(ms));
}

export function formatTime(ms) {
  if (ms == null) return '';
  return new Intl.DateTimeFormat(current, { timeStyle: 'short' }).format(new Date(ms));
}

// Today's moments as a time of day; other days' with their date.
export function formatWhen(ms) {
  if (ms == null) return '';
  return new Date(ms).toDateString() === new Date().toDateString() ? formatTime(ms) : formatDateTime(ms);
}

// Money is an integer in minor units; the currency says how many digits the minor unit has.
export function currencyDigits(currency) {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

export function formatPrice(minor, currency) {
  if (minor == null || !currency) return '';
  let nf;
  try {
    nf = new Intl.NumberFormat(current, { style: 'currency', currency });
  } catch {
    return `${minor} ${currency}`;
  }
  const digits = nf.resolvedOptions().maximumFractionDigits ?? 2;
  return nf.format(minor / 10 ** digits);
}

// "12.50" or "12,50" (major units, as a person types it) -> 1250 minor units; null if unreadable.
export function parseMajor(text, currency) {
  const clean = String(text ?? '').trim().replace(/[\s\u00a0\u202f']/g, '');
  if (!/^\d+(?:[.,]\d+)?$/.test(clean)) return null;
  const digits = currencyDigits(currency);
  const [whole, frac = ''] = clean.replace(',', '.').split('.');
  if (frac.length > digits) return null;
  return Number(whole) * 10 ** digits + Number(frac.padEnd(digits, '0') || 0);
}

// Minor units -> the plain decimal a form field shows ("12.50").
export function minorToMajorText(minor, currency) {
  const digits = currencyDigits(currency);
  if (!digits) return String(minor);
  const sign = minor < 0 ? '-' : '';
  const abs = Math.abs(minor);
  return `${sign}${Math.floor(abs / 10 ** digits)}.${String(abs % 10 ** digits).padStart(digits, '0')}`;
}

// A countdown as m:ss (or h:mm:ss); digits are the same in every language here.
export function formatClock(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

export function formatSeconds(seconds) {
  return new Intl.NumberFormat(current, { maximumFractionDigits: 0 }).format(Math.ceil(seconds));
}
