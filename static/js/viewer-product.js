// The product card's details sheet, and what the show's results count of it: opening the
// details or pressing Buy tells the server a viewer clicked the product (`track`,
// docs/protocol.md). The server counts only products the room has shown, a few a second
// per socket at most; the page sends and forgets.

import { $, closeOnBackdrop } from './dom.js';

export function setupProductDetails({ getClient, getState }) {
  const card = $('product-card');
  const sheet = $('product-sheet');

  function productId() {
    return card.dataset.productId || '';
  }

  function track() {
    const client = getClient();
    const id = productId();
    if (client && id) client.send('track', { kind: 'product_click', product_id: id });
  }

  function fill() {
    const { pinned } = getState();
    const product = pinned && pinned.id === productId() ? pinned : null;
    $('product-sheet-title').textContent = $('product-title').textContent;
    $('product-sheet-price').textContent = $('product-price').textContent;
    const description = $('product-sheet-description');
    description.textContent = (product && product.description) || '';
    description.hidden = !description.textContent;
    const image = $('product-sheet-image');
    const url = $('product-image').hidden ? '' : $('product-image').getAttribute('src') || '';
    image.hidden = !url;
    if (url) image.src = url;
    else image.removeAttribute('src');
    const buy = $('buy-button');
    $('product-sheet-buy').hidden = buy.hidden || buy.disabled;
  }

  $('product-details').addEventListener('click', () => {
    fill();
    track();
    if (!sheet.open) sheet.showModal();
  });
  $('product-sheet-close').addEventListener('click', () => sheet.close());
  $('product-sheet-buy').addEventListener('click', () => {
    sheet.close();
    $('buy-button').click();
  });
  // Buy from the card is a click too; Buy from the sheet was counted when it opened.
  $('buy-button').addEventListener('click', (event) => {
    if (event.isTrusted) track();
  });
  sheet.addEventListener('close', () => {
    const details = $('product-details');
    if (!card.hidden) details.focus();
  });
  closeOnBackdrop(sheet);
}
