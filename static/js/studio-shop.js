// Selling in the creator studio: the product list with Pin, adding and importing products,
// the sale launcher with live counters, and the orders feed. The pinned product, the sales,
// the viewer count and the orders are the chosen show's room state (its client's,
// room-state.js); the products are the host's own, read over HTTP.

import { api, API_BASE, download } from './api.js';
import { errorText } from './auth.js';
import { $, el, option, setStatus, timeEl } from './dom.js';
import {
  errorSentence, formatClock, formatNumber, formatPrice, formatTime, minorToMajorText, parseMajor, setText, t, tn,
} from './i18n.js';
import { initialState, salesNewestFirst } from './room-state.js';

const TICK_MS = 500;
const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'];
const IMAGE_MAX_BYTES = 5 * 1024 * 1024; // the server's limit: a bigger file is refused there too

export function setupStudioShop({ getClient, getRoom, currencies, defaultCurrency, onProducts = () => {} }) {
  const shop = {
    products: [],
  };
  let ticker = null;

  const room = () => getRoom();
  const roomState = () => { const client = getClient(); return client ? client.roomState : initialState(); };
  const pinnedProduct = () => roomState().pinned;
  const canSell = () => Boolean(room()) && room().state !== 'ended' && Boolean(getClient());

  function status(id, text, isError = false) {
    setStatus($(id), text, isError);
  }

  function refusalText(err) {
    if (err.code === 'disconnected' || err.code === 'timeout') return t('chat.not_sent');
    return errorSentence(err.code, { detail: err.message || '' }, err.message || err.code || '');
  }

  // ---- products --------------------------------------------------------------------------

  // Lists are redrawn on every event: a keyboard user's focus goes back where it was.
  function focusedIn(list, attr) {
    const el = document.activeElement;
    const row = el && list.contains(el) ? el.closest(`[data-${attr}]`) : null;
    return row ? row.dataset : null;
  }

  function renderProducts() {
    const list = $('product-list');
    const focused = focusedIn(list, 'product-id');
    $('products-empty').hidden = shop.products.length > 0;
    const r = room();
    const pinnedNow = pinnedProduct();
    list.replaceChildren(...shop.products.map((product) => {
      const li = el('li', { class: 'product-row', dataset: { productId: product.id } });
      const pinned = pinnedNow && pinnedNow.id === product.id;
      li.classList.toggle('pinned', Boolean(pinned));
      li.append(thumbPicker(product));
      const text = el(
        'div',
        { class: 'product-text' },
        el('span', { class: 'product-name', text: product.title }),
        el('span', {
          class: 'product-sub',
          text: `${product.sku} · ${formatPrice(product.price, product.currency)} · ${t('studio.products.in_stock', { count: formatNumber(product.stock) })}`,
        }),
      );
      if (pinned) text.append(el('span', { class: 'pin-badge', text: t('studio.products.pinned') }));
      const button = el('button', {
        type: 'button',
        class: pinned ? 'pin-button danger' : 'pin-button',
        text: pinned ? t('studio.products.unpin') : t('studio.products.pin'),
        'aria-label': t(pinned ? 'studio.products.unpin_named' : 'studio.products.pin_named', { title: product.title }),
      });
      const wrongCurrency = r && product.currency !== r.currency;
      button.disabled = !canSell() || (!pinned && Boolean(wrongCurrency));
      if (wrongCurrency && r) button.title = t('studio.products.other_currency', { currency: r.currency });
      button.addEventListener('click', () => (pinned ? unpin() : pin(product)));
      li.append(text, button);
      return li;
    }));
    if (focused) {
      const row = [...list.children].find((li) => li.dataset.productId === focused.productId);
      const button = row && row.querySelector('button');
      if (button && !button.disabled) button.focus();
    }
  }

  // The thumbnail holds the grid's first column whatever happens to the image: a picture
  // that does not load gives way to a placeholder of the same size (the title's initial).
  // It is also the way to upload a new image: a file picker behind the picture.
  function thumbPicker(product) {
    const picker = el('label', { class: 'product-thumb-picker', title: t('studio.products.image.change') });
    const placeholder = () => el('span', {
      class: 'product-thumb placeholder',
      'aria-hidden': 'true',
      text: (product.title.trim()[0] || '?').toUpperCase(),
    });
    if (product.image_url) {
      const img = el('img', { src: product.image_url, alt: '', width: 40, height: 40, class: 'product-thumb' });
      img.addEventListener('error', () => img.replaceWith(placeholder()), { once: true });
      picker.append(img);
    } else {
      picker.append(placeholder());
    }
    const input = el('input', {
      type: 'file',
      accept: IMAGE_TYPES.join(','),
      class: 'visually-hidden',
      'aria-label': t('studio.products.image.change_named', { title: product.title }),
    });
    input.addEventListener('change', async () => {
      const file = input.files[0];
      if (!file) return;
      status('products-status', t('studio.products.image.uploading'));
      try {
        await uploadImage(product.id, file);
        status('products-status', t('studio.products.image.changed', { title: product.title }));
      } catch (err) {
        status('products-status', imageErrorText(err), true);
      }
    });
    picker.append(input);
    return picker;
  }

  // Uploads `file` as the product's image; the product comes back with its new image_url.
  async function uploadImage(productId, file) {
    if (file.size > IMAGE_MAX_BYTES) throw Object.assign(new Error('too large'), { code: 'too_large' });
    if (file.type && !IMAGE_TYPES.includes(file.type)) throw Object.assign(new Error('type'), { code: 'unsupported_image' });
    const product = await api(`${API_BASE}/products/${encodeURIComponent(productId)}/image`, {
      method: 'POST', body: file, contentType: file.type || 'application/octet-stream',
    });
    shop.products = shop.products.map((p) => (p.id === product.id ? product : p));
    renderAll();
    return product;
  }

  function imageErrorText(err) {
    if (err.code === 'too_large') return t('studio.products.image.too_large');
    if (err.code === 'unsupported_image') return t('studio.products.image.unsupported');
    return errorText(err);
  }

  async function loadProducts() {
    try {
      const data = await api(`${API_BASE}/products?limit=100`);
      shop.products = (data && data.products) || [];
      status('products-status', '');
      onProducts();
    } catch (err) {
      status('products-status', errorText(err), true);
    }
    renderAll();
  }

  async function pin(product) {
    const client = getClient();
    if (!client) return;
    status('products-status', '');
    try {
      await client.request('pin', { product_id: product.id }, { quiet: true });
      status('products-status', t('studio.products.pinned_now', { title: product.title }));
    } catch (err) {
      status('products-status', refusalText(err), true);
    }
  }

  async function unpin() {
    const client = getClient();
    if (!client) return;
    try {
      await client.request('unpin', {}, { quiet: true });
      status('products-status', t('studio.products.unpinned_now'));
    } catch (err) {
      status('products-status', refusalText(err), true);
    }
  }

  function fillCurrencySelect() {
    const select = $('product-currency');
    const previous = select.value;
    select.replaceChildren(...currencies.map((code) => option(code, code)));
    select.value = previous || (room() && room().currency) || defaultCurrency();
  }

  async function addProduct(event) {
    event.preventDefault();
    const error = $('product-error');
    error.textContent = '';
    const title = $('product-title-input').value.trim();
    const sku = $('product-sku').value.trim();
    const currency = $('product-currency').value;
    const price = parseMajor($('product-price').value, currency);
    const stockText = $('product-stock').value.trim();
    const fail = (id, key) => {
      error.textContent = t(key);
      $(id).setAttribute('aria-invalid', 'true');
      $(id).focus();
    };
    for (const el of $('product-form').querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    if (!title) return fail('product-title-input', 'studio.products.error.title');
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(sku)) return fail('product-sku', 'studio.products.error.sku');
    if (price == null) return fail('product-price', 'studio.error.price');
    if (!/^\d+$/.test(stockText)) return fail('product-stock', 'studio.products.error.stock');
    const body = { sku, title, price, currency, stock: Number(stockText) };
    const image = $('product-image-url').value.trim();
    const file = $('product-image-file').files[0] || null;
    if (file && file.size > IMAGE_MAX_BYTES) {
      error.textContent = t('studio.products.image.too_large');
      $('product-image-file').focus();
      return;
    }
    const description = $('product-description').value.trim();
    if (image && !file) body.image_url = image;
    if (description) body.description = description;
    const submit = $('product-submit');
    submit.disabled = true;
    try {
      const product = await api(`${API_BASE}/products`, { method: 'POST', body });
      shop.products = [product, ...shop.products.filter((p) => p.id !== product.id)];
      for (const id of ['product-title-input', 'product-sku', 'product-price', 'product-image-url', 'product-image-file', 'product-description']) $(id).value = '';
      status('products-status', t('studio.products.added', { title: product.title }));
      renderAll();
      $('product-title-input').focus();
      if (file) {
        // The product exists either way; a refused image is said, and can be sent again from
        // the product's thumbnail.
        try {
          await uploadImage(product.id, file);
        } catch (err) {
          status('products-status', t('studio.products.image.added_without', { title: product.title, reason: imageErrorText(err) }), true);
        }
      }
    } catch (err) {
      error.textContent = err.code === 'conflict' ? t('studio.products.error.sku_taken') : errorText(err);
    } finally {
      submit.disabled = false;
    }
  }

  async function importFile(event) {
    event.preventDefault();
    const error = $('import-error');
    error.textContent = '';
    const file = $('import-file').files[0];
    if (!file) {
      error.textContent = t('studio.import.choose');
      $('import-file').focus();
      return;
    }
    const submit = $('import-submit');
    submit.disabled = true;
    setText(submit, 'studio.import.importing');
    try {
      const report = await api(`${API_BASE}/products/import`, {
        method: 'POST', body: file, contentType: 'text/csv',
      });
      showReport(report);
      await loadProducts();
    } catch (err) {
      error.textContent = errorText(err);
    } finally {
      submit.disabled = false;
      setText(submit, 'studio.import.submit');
    }
  }

  function showReport(report) {
    $('import-report').hidden = false;
    setText($('import-summary'), 'studio.import.summary', {
      created: formatNumber(report.created ?? 0),
      updated: formatNumber(report.updated ?? 0),
      refused: formatNumber(report.refused ?? 0),
    });
    $('import-rows').replaceChildren(...(report.rows || []).map((row) => {
      // The server says `status` (created, updated, refused); `ok` is read as well.
      const result = row.status || (row.ok === false ? 'refused' : row.ok ? 'created' : '');
      const key = `studio.import.status.${result}`;
      const said = t(key) !== key ? t(key) : result;
      return el(
        'tr',
        { class: `import-${result}` },
        el('td', { text: formatNumber(row.row ?? 0) }),
        el('td', { text: row.sku || '' }),
        el('td', { text: row.reason ? `${said}: ${row.reason}` : said }),
      );
    }));
  }

  // ---- sales -----------------------------------------------------------------------------

  const now = () => {
    const client = getClient();
    return client ? client.serverNow() : Date.now();
  };

  function currentSale() {
    const all = salesNewestFirst(roomState());
    return all.find((s) => s.state === 'active') || all[0] || null;
  }

  function fillSaleProducts() {
    const select = $('sale-product');
    const previous = select.value;
    const r = room();
    const usable = shop.products.filter((p) => !r || p.currency === r.currency);
    select.replaceChildren(...usable.map((product) => option(product.id, `${product.title} · ${formatPrice(product.price, product.currency)}`)));
    const pinned = pinnedProduct();
    const wanted = [previous, pinned && pinned.id].find((id) => id && usable.some((p) => p.id === id));
    if (wanted) select.value = wanted;
    if (select.value !== previous) productChosen();
  }

  function productChosen() {
    const product = shop.products.find((p) => p.id === $('sale-product').value);
    if (!product) return;
    $('sale-price').value = minorToMajorText(product.price, product.currency);
    setText($('sale-price-label'), 'studio.sale.price_in', { currency: product.currency });
    $('sale-units').max = String(Math.max(1, product.stock));
  }

  function whole(id, low, high) {
    const text = $(id).value.trim();
    if (!/^\d+$/.test(text)) return null;
    const n = Number(text);
    return n >= low && n <= high ? n : null;
  }

  async function startSale(event) {
    event.preventDefault();
    const client = getClient();
    const r = room();
    if (!client || !r) return;
    for (const el of $('sale-form').querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    const fail = (id, key, args) => {
      status('sale-status', t(key, args), true);
      $(id).setAttribute('aria-invalid', 'true');
      $(id).focus();
    };
    const product = shop.products.find((p) => p.id === $('sale-product').value);
    if (!product) return fail('sale-product', 'studio.sale.error.product');
    const price = parseMajor($('sale-price').value, product.currency);
    if (price == null) return fail('sale-price', 'studio.error.price');
    const units = whole('sale-units', 1, 1000000);
    if (units == null) return fail('sale-units', 'studio.sale.error.range', { min: 1, max: formatNumber(1000000) });
    if (units > product.stock) return fail('sale-units', 'studio.sale.error.stock', { stock: formatNumber(product.stock) });
    const limit = whole('sale-limit', 1, 100);
    if (limit == null) return fail('sale-limit', 'studio.sale.error.range', { min: 1, max: 100 });
    const duration = whole('sale-duration', 5, 86400);
    if (duration == null) return fail('sale-duration', 'studio.sale.error.range', { min: 5, max: formatNumber(86400) });
    const hold = whole('sale-hold', 10, 3600);
    if (hold == null) return fail('sale-hold', 'studio.sale.error.range', { min: 10, max: formatNumber(3600) });
    const button = $('sale-start');
    button.disabled = true;
    status('sale-status', '');
    try {
      const reply = await client.request('sale.start', {
        product_id: product.id, price, units, per_user_limit: limit, duration_s: duration, hold_s: hold,
      }, { quiet: true });
      if (reply.sale) client.apply({ type: 'sale.started', sale: reply.sale });
      status('sale-status', t('studio.sale.started', { title: product.title }));
    } catch (err) {
      status('sale-status', err.code === 'room_not_live' ? t('studio.sale.error.not_live') : refusalText(err), true);
    } finally {
      button.disabled = false;
      renderSales();
    }
  }

  async function stopSale(sale) {
    const client = getClient();
    if (!client) return;
    try {
      await client.request('sale.stop', { sale_id: sale.id }, { quiet: true });
      status('sale-status', t('studio.sale.stopped', { title: sale.title }));
    } catch (err) {
      status('sale-status', refusalText(err), true);
    }
  }

  function renderCounters() {
    const sale = currentSale();
    $('count-viewers').textContent = formatNumber(roomState().viewers ?? 0);
    const dash = '–';
    $('count-available').textContent = sale ? formatNumber(sale.available) : dash;
    $('count-held').textContent = sale ? formatNumber(sale.held) : dash;
    $('count-sold').textContent = sale ? formatNumber(sale.sold) : dash;
    $('count-revenue').textContent = sale ? formatPrice(sale.sold * sale.price, sale.currency) : dash;
  }

  function saleLine(sale) {
    if (sale.state === 'active') {
      return t('studio.sale.ends_in', { time: formatClock(sale.ends_at - now()) });
    }
    const key = `studio.sale.ended.${sale.end_reason || 'time_up'}`;
    return t(key) !== key ? t(key) : t('studio.sale.ended.time_up');
  }

  function renderSales() {
    const list = $('sale-list');
    const focused = focusedIn(list, 'sale-id');
    const sales = salesNewestFirst(roomState()).slice(0, 5);
    list.replaceChildren(...sales.map((sale) => {
      const li = el('li', { class: `sale-row ${sale.state}`, dataset: { saleId: sale.id } });
      li.append(el(
        'div',
        {},
        el('span', { class: 'sale-title', text: `${sale.title} · ${formatPrice(sale.price, sale.currency)}` }),
        el('span', { class: 'sale-when', role: sale.state === 'active' ? 'timer' : 'none', text: saleLine(sale) }),
        el('span', { class: 'sale-units', text: tn('studio.sale.units_sold', sale.sold, { units: formatNumber(sale.units) }) }),
      ));
      if (sale.state === 'active') {
        const stop = el('button', {
          type: 'button',
          class: 'danger',
          text: t('studio.sale.stop'),
          'aria-label': t('studio.sale.stop_named', { title: sale.title }),
        });
        stop.addEventListener('click', () => stopSale(sale));
        li.append(stop);
      }
      return li;
    }));
    renderCounters();
    const onAir = room() && room().state === 'live';
    $('sale-start').disabled = !onAir || !getClient() || !$('sale-product').value;
    if (focused) {
      const row = [...list.children].find((li) => li.dataset.saleId === focused.saleId);
      const stop = row && row.querySelector('button');
      (stop || $('sale-start')).focus();
    }
    const hasActive = sales.some((s) => s.state === 'active');
    if (hasActive && !ticker) ticker = setInterval(tick, TICK_MS);
    if (!hasActive && ticker) {
      clearInterval(ticker);
      ticker = null;
    }
  }

  function tick() {
    for (const li of $('sale-list').querySelectorAll('.sale-row.active')) {
      const sale = roomState().sales[li.dataset.saleId];
      const el = li.querySelector('.sale-when');
      if (sale && el) {
        const text = saleLine(sale);
        if (el.textContent !== text) el.textContent = text;
      }
    }
  }

  function renderPinned() {
    const line = $('pinned-line');
    const pinned = pinnedProduct();
    if (pinned) setText(line, 'studio.sale.pinned', { title: pinned.title });
    else setText(line, 'studio.sale.nothing_pinned');
  }

  // ---- orders ----------------------------------------------------------------------------

  function orderItem(order) {
    const time = order.created_at ? timeEl(order.created_at, formatTime(order.created_at)) : el('time');
    return el(
      'li',
      { class: 'order-row', dataset: { orderId: order.id } },
      el(
        'div',
        { class: 'order-head' },
        el('span', { class: 'order-buyer', text: (order.buyer && order.buyer.name) || '' }),
        el('span', { class: 'order-amount', text: formatPrice(order.amount, order.currency) }),
      ),
      el('span', { class: 'order-lines', text: (order.lines || []).map((l) => `${l.quantity} × ${l.title}`).join(', ') }),
      el('span', { class: 'order-meta' }, time, ' · ', el('span', { class: 'order-id', text: order.id })),
    );
  }

  function renderOrders() {
    const { orders } = roomState();
    $('orders-empty').hidden = orders.length > 0;
    $('orders-list').replaceChildren(...orders.map(orderItem));
    const r = room();
    $('orders-csv').href = r ? `${API_BASE}/rooms/${encodeURIComponent(r.id)}/orders.csv` : '#';
    const paid = orders.filter((o) => o.state !== 'refunded');
    const total = new Map();
    for (const o of paid) total.set(o.currency, (total.get(o.currency) || 0) + Number(o.amount || 0));
    const line = $('orders-total');
    if (!paid.length) {
      line.textContent = '';
      return;
    }
    const sums = [...total].map(([currency, amount]) => formatPrice(amount, currency)).join(' + ');
    line.textContent = tn('studio.orders.total', paid.length, { amount: sums });
  }

  async function loadOrders(roomId) {
    status('orders-error', '');
    try {
      const data = await api(`${API_BASE}/rooms/${encodeURIComponent(roomId)}/orders`);
      const client = getClient();
      if (!room() || room().id !== roomId || !client) return;
      client.apply({ type: 'orders', orders: (data && data.orders) || [] });
    } catch (err) {
      if (err.status !== 404) status('orders-error', errorText(err), true);
    }
    renderOrders();
  }

  async function downloadCsv(event) {
    event.preventDefault();
    const r = room();
    if (!r) return;
    try {
      await download(`${API_BASE}/rooms/${encodeURIComponent(r.id)}/orders.csv`, `orders-${r.id}.csv`);
    } catch (err) {
      status('orders-error', errorText(err), true);
    }
  }

  // ---- wiring ----------------------------------------------------------------------------

  function renderAll() {
    renderProducts();
    fillSaleProducts();
    renderPinned();
    renderSales();
    renderOrders();
  }

  $('product-form').addEventListener('submit', addProduct);
  $('import-form').addEventListener('submit', importFile);
  $('sale-form').addEventListener('submit', startSale);
  $('sale-product').addEventListener('change', productChosen);
  $('product-currency').addEventListener('change', (event) => { event.target.dataset.touched = '1'; });
  $('orders-csv').addEventListener('click', downloadCsv);
  window.addEventListener('lc:languagechange', () => {
    fillCurrencySelect();
    renderAll();
  });
  fillCurrencySelect();

  return {
    loadProducts,
    products: () => shop.products,
    renderAll,
    renderCounters,
    // A show was chosen (its client, and so its room state, is new).
    roomChanged(r) {
      status('sale-status', '');
      status('orders-error', '');
      if (r && !$('product-currency').dataset.touched) $('product-currency').value = r.currency;
      renderAll();
      if (r) loadOrders(r.id);
    },
    attach(client, mine) {
      // The client has folded each event into its roomState before these run.
      const when = (type, run) => client.addEventListener(type, (event) => { if (mine()) run(event.detail); });
      when('welcome', renderAll);
      when('product.pinned', renderAll);
      when('product.unpinned', renderAll);
      when('sale.started', (detail) => { if (detail.sale) renderSales(); });
      when('sale.stock', (detail) => { if (roomState().sales[detail.sale_id]) renderSales(); });
      when('sale.ended', () => {
        status('sale-status', '');
        renderSales();
        loadProducts(); // stock moves with what was sold
      });
      when('order.created', (detail) => {
        renderOrders();
        if (detail.order && roomState().sales[detail.order.sale_id]) renderSales();
      });
    },
  };
}
