// Names and texts that object names reach in rulesets, shared by every mode.
// Upstream's chain-name hashing, so that rule dumps compare with kube-proxy's: base32
// (RFC 4648, standard alphabet) of the SHA-256 of a name, truncated. And, since names
// are validated at the edge but a ruleset must never depend on that, quoting that is
// safe for any string: no name can end a rule, a line or a command.
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

/** xt_comment keeps at most 255 bytes (256 with the NUL); iptables-restore refuses a far longer word outright. */
const COMMENT_MAX = 255;

/**
 * A comment as one iptables-restore word, for any text. iptables-restore reads a rule
 * per line and, inside double quotes, takes a backslash as escaping the next character.
 * So characters outside printable ASCII (newlines, control characters, non-ASCII)
 * become "?", the text is cut to 255 characters, and it is written bare when it is one
 * plain word, else double-quoted with " and \ escaped.
 */
export function iptablesComment(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?').slice(0, COMMENT_MAX);
  return /^[\w./:-]+$/.test(clean) ? clean : `"${clean.replace(/["\\]/g, '\\$&')}"`;
}

/** nft keeps at most 128 bytes of an element comment (NFTNL_UDATA_COMMENT_MAXLEN). */
const NFT_COMMENT_MAX = 128;

/**
 * An element comment as nft's quoted string, for any text: nft's scanner ends a
 * quoted string at the next double quote and knows no escapes, so quotes and
 * characters outside printable ASCII become "?", and the text is cut to nft's limit.
 */
export function nftComment(text: string): string {
  return `"${text.replace(/[^\x20-\x7e]|"/g, '?').slice(0, NFT_COMMENT_MAX)}"`;
}

/** nft names are at most 255 bytes (NFT_NAME_MAXLEN 256 with the NUL). */
const NFT_NAME_MAX = 255;
/** Characters nft's scanner takes in a bare identifier after its first letter. */
const NFT_BARE = /^[A-Za-z0-9_./-]*$/;

/**
 * An nft chain or set name as upstream builds it, `<prefix>-<8 hash chars>-<readable>`
 * (the hash of `hashed`), when `readable` is a bare identifier that fits. Otherwise
 * (only names that bypassed validation, or the longest valid ones) the unsafe
 * characters become "_", the hash grows to 16 characters so that it alone tells names
 * apart, and the result is cut to nft's limit.
 */
export function nftName(prefix: string, hashed: string, readable: string): string {
  const name = `${prefix}-${hashPrefix(hashed, 8)}-${readable}`;
  if (name.length <= NFT_NAME_MAX && NFT_BARE.test(readable)) return name;
  return `${prefix}-${hashPrefix(hashed, 16)}-${readable.replace(/[^A-Za-z0-9_./-]/g, '_')}`.slice(0, NFT_NAME_MAX);
}
