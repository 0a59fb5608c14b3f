// Upstream's chain-name hashing, shared by the iptables and nftables modes so that
// rule dumps compare with kube-proxy's: base32 (RFC 4648, standard alphabet) of the
// SHA-256 of a name, truncated.
import { createHash } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** The first `length` base32 characters of sha256(input). */
export function hashPrefix(input: string, length: number): string {
  const digest = createHash('sha256').update(input).digest();
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.length >= length) break;
    value &= (1 << bits) - 1;
  }
  return out;
}
