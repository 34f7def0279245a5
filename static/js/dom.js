// The small DOM helpers every page shares: finding and making elements, clearing a string
// set by key, status lines, lists keyed by data attributes, dialogs closed from the backdrop.
// Text always goes in as textContent: nothing here interprets markup.

export const $ = (id) => document.getElementById(id);

// el('button', {class: 'small-button', type: 'button', dataset: {act: 'ban'}}, 'Ban'):
// `class`, `text` (textContent) and `dataset` as named; names with a dash (aria-*, data-*)
// and `role` as attributes; anything else as the element's property. Null values are left
// out, and so are null children; strings become text.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value == null) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = String(value);
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name === 'role' || name.includes('-')) node.setAttribute(name, String(value));
    else node[name] = value;
  }
  node.append(...children.filter((child) => child != null));
  return node;
}

export function option(value, text) {
  return el('option', { value, text });
}

// A <time> for an epoch-milliseconds moment, written as `text`.
export function timeEl(ms, text, className = null) {
  return el('time', { class: className, dateTime: new Date(ms).toISOString(), text });
}

// Empties an element whose string was set by key (i18n.setText), so a language change
// leaves it empty.
export function clearText(node) {
  node.textContent = '';
  node.removeAttribute('data-i18n');
}

// A status line next to a form or a list: a sentence, marked as an error or not.
export function setStatus(node, text, isError = false) {
  node.textContent = text;
  node.classList.toggle('error', isError);
}

// The child of `root` whose data-`name` attribute is `value` (ids come from the network, so
// they are escaped, never pasted into the selector).
export function byData(root, name, value) {
  return root.querySelector(`[data-${name}="${CSS.escape(String(value))}"]`);
}

// Whether a scrolled list shows (about) its end.
export function nearBottom(list, slack) {
  return list.scrollHeight - list.scrollTop - list.clientHeight < slack;
}

// A wait shown as it runs out: `text(secondsLeft)` in `node` now and every second after,
// and the line emptied when the wait is over. Returns the interval, for clearInterval.
export function countDown(node, seconds, text) {
  const until = Date.now() + seconds * 1000;
  let timer = null;
  const tick = () => {
    const left = (until - Date.now()) / 1000;
    node.textContent = left > 0 ? text(left) : '';
    if (left <= 0) clearInterval(timer);
  };
  tick();
  timer = setInterval(tick, 1000);
  return timer;
}

// body[data-connection] says how the page's room socket is: connecting, reconnecting,
// closed, or joined once it has the room (the page's styles and its tests read it). A resumed
// socket gets no welcome: being open again with a cursor is being joined. `mine()` is false
// once the page has moved on to another client. Set up after the page's own listeners, so
// "joined" comes once the room is drawn.
export function markConnection(client, mine = () => true) {
  client.addEventListener('welcome', () => {
    if (mine()) document.body.dataset.connection = 'joined';
  });
  client.addEventListener('status', ({ detail }) => {
    if (!mine()) return;
    if (detail.state !== 'open') document.body.dataset.connection = detail.state;
    else if (client.seq != null) document.body.dataset.connection = 'joined';
  });
}

// A click on a modal dialog's backdrop (outside its box) closes it.
export function closeOnBackdrop(dialog, close = () => dialog.close()) {
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) close();
  });
}
