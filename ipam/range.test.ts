import { describe, expect, it } from 'vitest';
import { parseIpamConfig } from './config.ts';
import { allocatableCount, candidates, spanOf, type IpamRange } from './range.ts';

function set(...ranges: object[]): IpamRange[] {
  return parseIpamConfig({ ranges: [ranges] }, 'n').rangeSets[0]!;
}

const first = (s: IpamRange[], last: string | undefined, n: number): string[] => {
  const out: string[] = [];
  for (const c of candidates(s, last)) {
    out.push(c.ip);
    if (out.length === n) break;
  }
  return out;
};

describe('candidates (host-local round robin)', () => {
  it('starts at rangeStart, skipping the gateway', () => {
    expect(first(set({ subnet: '10.0.0.0/29' }), undefined, 10)).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  });

  it('resumes after the last reserved address and wraps to visit every address once', () => {
    expect(first(set({ subnet: '10.0.0.0/29' }), '10.0.0.4', 10)).toEqual(['10.0.0.5', '10.0.0.6', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
    expect(first(set({ subnet: '10.0.0.0/29' }), '10.0.0.6', 10)).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  });

  it('ignores a last reserved address outside the set', () => {
    expect(first(set({ subnet: '10.0.0.0/29' }), '192.168.0.1', 2)).toEqual(['10.0.0.2', '10.0.0.3']);
  });

  it('moves across the ranges of a set and back', () => {
    const s = set({ subnet: '10.0.0.0/30' }, { subnet: '10.0.1.0/24', rangeStart: '10.0.1.10', rangeEnd: '10.0.1.11' });
    expect(first(s, '10.0.1.10', 10)).toEqual(['10.0.1.11', '10.0.0.2', '10.0.1.10']);
  });

  it('never offers the IPv4 network or broadcast address, even when the range includes them', () => {
    const s = set({ subnet: '10.0.0.0/30', rangeStart: '10.0.0.0', rangeEnd: '10.0.0.3', gateway: '10.0.0.2' });
    expect(first(s, undefined, 10)).toEqual(['10.0.0.1']);
    expect(allocatableCount(spanOf(s[0]!))).toBe(1n);
  });

  it('uses the whole IPv6 range (no broadcast) and stays lazy on a /64', () => {
    expect(first(set({ subnet: 'fd00::/126' }), undefined, 10)).toEqual(['fd00::2', 'fd00::3']);
    expect(first(set({ subnet: 'fd00::/64' }), 'fd00::ffff:ffff:ffff:fffe', 2)).toEqual(['fd00::ffff:ffff:ffff:ffff', 'fd00::2']);
    expect(allocatableCount(spanOf(set({ subnet: 'fd00::/64' })[0]!))).toBe(2n ** 64n - 2n);
  });
});
