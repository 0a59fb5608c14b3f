import { describe, expect, it } from 'vitest';
import { formatGoDuration, parseGoDuration } from './duration.ts';

describe('parseGoDuration', () => {
  it.each([
    ['30s', 30_000], ['1m0s', 60_000], ['1h', 3_600_000], ['500ms', 500], ['0', 0], ['0s', 0],
    ['1h2m3.5s', 3_723_500], ['1.5h', 5_400_000], ['.5s', 500], ['2h22m', 8_520_000],
    ['250us', 0.25], ['250µs', 0.25], ['10ns', 0.00001], ['-1s', -1000], ['+2s', 2000],
  ])('%s = %f ms', (text, ms) => {
    expect(parseGoDuration(text)).toBeCloseTo(ms, 9);
  });

  it.each(['', 'abc', '30', '1x', '1h 2m', 's', '1.s.', '-', '1e3s'])('rejects %j', (text) => {
    expect(parseGoDuration(text)).toBeUndefined();
  });
});

describe('formatGoDuration', () => {
  it.each([
    [0, '0s'], [30_000, '30s'], [60_000, '1m0s'], [3_600_000, '1h0m0s'], [86_400_000, '24h0m0s'],
    [1500, '1.5s'], [500, '500ms'], [1.5, '1.5ms'], [0.25, '250µs'], [3_723_500, '1h2m3.5s'], [-1000, '-1s'],
  ])('%f ms = %s', (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
    expect(parseGoDuration(text)).toBeCloseTo(ms, 9);
  });
});
