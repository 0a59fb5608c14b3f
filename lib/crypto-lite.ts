// What the CNI plugin needs of cryptography, without node:crypto: loading that module
// (and the OpenSSL bindings behind it) takes ~4 ms, a tenth of a plugin call that only
// hashes a few dozen bytes for a link name and draws a MAC address.
import { closeSync, openSync, readSync } from 'node:fs';

// FIPS 180-4: the first 32 bits of the fractional parts of the cube roots of the first 64 primes.
const K = Uint32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

// The first 32 bits of the fractional parts of the square roots of the first 8 primes.
const H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

const rotr = (x: number, n: number): number => (x >>> n) | (x << (32 - n));

/** SHA-256 of a string's UTF-8 bytes or of bytes: the same digest as node:crypto's. */
export function sha256(data: string | Uint8Array): Buffer {
  const msg = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  // The message, a 1 bit, zeros, and its length in bits (64-bit big-endian) fill whole 64-byte blocks.
  const padded = Buffer.alloc(Math.ceil((msg.length + 9) / 64) * 64);
  padded.set(msg);
  padded[msg.length] = 0x80;
  padded.writeUInt32BE(Math.floor(msg.length / 0x20000000), padded.length - 8);
  padded.writeUInt32BE((msg.length * 8) >>> 0, padded.length - 4);
  const h = [...H0] as [number, number, number, number, number, number, number, number];
  const w = new Uint32Array(64);
  for (let off = 0; off < padded.length; off += 64) {
    for (let t = 0; t < 16; t++) w[t] = padded.readUInt32BE(off + 4 * t);
    for (let t = 16; t < 64; t++) {
      const a = w[t - 15] ?? 0;
      const b = w[t - 2] ?? 0;
      const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3);
      const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
      w[t] = (w[t - 16] ?? 0) + s0 + (w[t - 7] ?? 0) + s1;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let t = 0; t < 64; t++) {
      const t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + (K[t] ?? 0) + (w[t] ?? 0);
      const t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g; g = f; f = e; e = (d + t1) >>> 0;
      d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    h[0] = (h[0] + a) >>> 0; h[1] = (h[1] + b) >>> 0; h[2] = (h[2] + c) >>> 0; h[3] = (h[3] + d) >>> 0;
    h[4] = (h[4] + e) >>> 0; h[5] = (h[5] + f) >>> 0; h[6] = (h[6] + g) >>> 0; h[7] = (h[7] + hh) >>> 0;
  }
  const out = Buffer.alloc(32);
  h.forEach((x, i) => out.writeUInt32BE(x, 4 * i));
  return out;
}

// Random bytes are read ahead, so that a plugin call opens the kernel's source once (an
// ADD draws two MACs and names two temporary files).
const POOL_BYTES = 256;
let pool: Buffer = Buffer.alloc(0);
let used = 0;

/** n bytes from the kernel's random source (what node:crypto's randomBytes draws from too), never handed out twice. */
export function randomBytes(n: number): Buffer {
  if (n > POOL_BYTES) return readRandom(n);
  if (used + n > pool.length) {
    pool = readRandom(POOL_BYTES);
    used = 0;
  }
  used += n;
  return Buffer.from(pool.subarray(used - n, used));
}

function readRandom(n: number): Buffer {
  const out = Buffer.alloc(n);
  const fd = openSync('/dev/urandom', 'r');
  try {
    for (let got = 0; got < n;) got += readSync(fd, out, got, n - got, null);
  } finally {
    closeSync(fd);
  }
  return out;
}
