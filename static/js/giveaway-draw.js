// The giveaway draw, recomputed in the browser (docs/giveaways.md, "Verify a draw"): the same
// algorithm as livecommerce/giveaways/rules.py, so anyone can check a published winner from the
// commitment given at the start and the seed and entrant list revealed at the end.
//
//   commitment = sha256(seed).hex
//   ids sorted by the bytes of their UTF-8 encoding
//   winner = ids[ int(sha256(seed + "\n".join(ids)), big-endian) mod len(ids) ]

const encoder = new TextEncoder();

export function hexToBytes(hex) {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return null;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function bytesToHex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
}

function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

// Whether the list is in the published order: strictly rising by UTF-8 bytes (no repeats).
export function isSortedList(ids) {
  const encoded = ids.map((id) => encoder.encode(id));
  return encoded.every((bytes, i) => i === 0 || compareBytes(encoded[i - 1], bytes) < 0);
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

export function canVerify() {
  return Boolean(globalThis.crypto && crypto.subtle && typeof crypto.subtle.digest === 'function');
}

// {commitmentOk, sorted, index, winner} for a published draw; winner null with no entrants.
export async function recompute({ commitment, seed, ids }) {
  const seedBytes = hexToBytes(seed || '');
  if (!seedBytes) return { commitmentOk: false, sorted: false, index: null, winner: null };
  const commitmentOk = bytesToHex(await sha256(seedBytes)) === String(commitment || '').toLowerCase();
  const sorted = isSortedList(ids);
  if (!ids.length) return { commitmentOk, sorted, index: null, winner: null };
  const joined = encoder.encode(ids.join('\n'));
  const message = new Uint8Array(seedBytes.length + joined.length);
  message.set(seedBytes, 0);
  message.set(joined, seedBytes.length);
  const digest = await sha256(message);
  const index = Number(BigInt(`0x${bytesToHex(digest)}`) % BigInt(ids.length));
  return { commitmentOk, sorted, index, winner: ids[index] };
}
