import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { randomBytes, sha256 } from './crypto-lite.ts';

describe('sha256', () => {
  it('gives the FIPS 180-4 example digests', () => {
    expect(sha256('abc').toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256('').toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq').toString('hex'))
      .toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  });

  // Every length around the block and padding boundaries (55/56/64 bytes), multi-block
  // messages, and non-ASCII text (hashed as UTF-8): a link name made from the digest
  // must stay the one an earlier kpr made.
  it('matches node:crypto for every length up to 300 bytes and for UTF-8 text', () => {
    for (let n = 0; n <= 300; n++) {
      const bytes = Buffer.from(Array.from({ length: n }, (_, i) => (i * 131 + n) & 0xff));
      expect(sha256(bytes).toString('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
    const text = 'kpr-net/é-容器/eth0';
    expect(sha256(text).toString('hex')).toBe(createHash('sha256').update(text).digest('hex'));
  });
});

describe('randomBytes', () => {
  it('returns the number of bytes asked for, different each time', () => {
    const a = randomBytes(16);
    expect(a).toHaveLength(16);
    expect(randomBytes(0)).toHaveLength(0);
    expect(a.equals(randomBytes(16))).toBe(false);
  });

  it('never hands out the same bytes twice across refills of its read-ahead, nor bytes a caller changes', () => {
    const draws = Array.from({ length: 100 }, () => randomBytes(6));
    draws[0]?.fill(0);
    expect(new Set(draws.map((d) => d.toString('hex'))).size).toBe(100);
    expect(randomBytes(1000)).toHaveLength(1000);
  });
});
