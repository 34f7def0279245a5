// The console's chat settings: slow mode (`mod.slow`) and the blocked-word list
// (`mod.words`, one word or phrase per line, replacing the list).

import { SLOW_CHOICES } from './console-common.js';
import { $, option } from './dom.js';
import { formatDuration } from './durations.js';
import { setText, t, tn } from './i18n.js';

const WORDS_MAX = 500;
const WORD_MAX_LENGTH = 64;

export function parseWords(text) {
  const seen = new Set();
  const words = [];
  for (const raw of String(text).split(/\r?\n/)) {
    // Tabs and other control characters cannot be blocked: they read as spaces.
    const word = raw.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
    if (!word || seen.has(word.toLowerCase())) continue;
    seen.add(word.toLowerCase());
    words.push(word);
  }
  return words;
}

export function setupSettings({ desk, act, describeError }) {
  const select = $('slow-select');
  const textarea = $('words-input');
  const wordsError = $('words-error');
  let savedWords = [];

  function fillSlowChoices() {
    const choices = new Set(SLOW_CHOICES);
    choices.add(desk.slow || 0);
    const previous = select.value;
    select.replaceChildren(...[...choices].sort((a, b) => a - b)
      .map((seconds) => option(String(seconds), seconds ? formatDuration(seconds) : t('console.slow.off'))));
    select.value = select.dataset.dirty === 'true' && previous ? previous : String(desk.slow || 0);
  }

  function renderSlow() {
    fillSlowChoices();
    const current = $('slow-current');
    if (desk.slow) setText(current, 'console.slow.current_on', { duration: formatDuration(desk.slow) });
    else setText(current, 'console.slow.current_off');
    current.classList.toggle('on', Boolean(desk.slow));
  }

  function renderWordCount() {
    const n = parseWords(textarea.value).length;
    $('words-count').textContent = tn('console.words.count', n);
  }

  // A list read from the server replaces the text unless the moderator is editing it.
  function setWords(words) {
    savedWords = [...(words || [])];
    if (textarea.dataset.dirty !== 'true') textarea.value = savedWords.join('\n');
    renderWordCount();
  }

  select.addEventListener('change', () => { select.dataset.dirty = 'true'; });
  $('slow-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const seconds = Number(select.value);
    const button = $('slow-apply');
    button.disabled = true;
    try {
      await act('mod.slow', { seconds });
      select.dataset.dirty = 'false';
      desk.slow = seconds;
      renderSlow();
    } catch {
      // act() has shown what went wrong.
    } finally {
      button.disabled = false;
    }
  });

  textarea.addEventListener('input', () => {
    textarea.dataset.dirty = 'true';
    wordsError.textContent = '';
    textarea.removeAttribute('aria-invalid');
    renderWordCount();
  });
  $('words-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const words = parseWords(textarea.value);
    const tooLong = words.find((w) => w.length > WORD_MAX_LENGTH);
    let problem = '';
    if (words.length > WORDS_MAX) problem = t('console.words.error.too_many', { max: WORDS_MAX });
    else if (tooLong) problem = t('console.words.error.too_long', { word: tooLong, max: WORD_MAX_LENGTH });
    if (problem) {
      wordsError.textContent = problem;
      textarea.setAttribute('aria-invalid', 'true');
      textarea.focus();
      return;
    }
    const button = $('words-save');
    button.disabled = true;
    wordsError.textContent = '';
    try {
      await act('mod.words', { words }, { count: words.length, quiet: true });
      textarea.dataset.dirty = 'false';
      setWords(words);
    } catch (err) {
      // The server names the entry it refused (one without letters or digits, such as "!!!").
      const index = err.event ? err.event.index : null;
      wordsError.textContent = err.code === 'bad_request' && Number.isInteger(index) && words[index] != null
        ? t('console.words.error.entry', { word: words[index] }) : describeError(err);
      textarea.setAttribute('aria-invalid', 'true');
      textarea.focus();
    } finally {
      button.disabled = false;
    }
  });

  return {
    renderSlow,
    setWords,
    rerender() {
      renderSlow();
      renderWordCount();
    },
    savedWords: () => savedWords,
  };
}
