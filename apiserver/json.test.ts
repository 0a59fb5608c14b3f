import { describe, expect, it } from 'vitest';
import { jsonEqual, jsonPatch, mergePatch } from './json.ts';

describe('jsonEqual', () => {
  it.each([
    [{ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }, true],
    [{ a: 1 }, { a: 1, b: undefined }, false],
    [[1, 2], [2, 1], false],
    [null, {}, false],
    ['1', 1, false],
  ])('%j vs %j → %s', (a, b, want) => {
    expect(jsonEqual(a, b)).toBe(want);
  });
});

describe('mergePatch', () => {
  it('merges objects, deletes on null and replaces arrays and scalars', () => {
    expect(mergePatch({ a: { b: 1, c: 2 }, l: [1, 2], s: 'x' }, { a: { c: null, d: 3 }, l: [3], s: { n: 1 } }))
      .toEqual({ a: { b: 1, d: 3 }, l: [3], s: { n: 1 } });
  });
});

describe('jsonPatch', () => {
  const doc = { a: { b: [1, 2, 3] }, 'x/y': 1 };
  it('applies add, remove, replace, move, copy and test in order without touching the input', () => {
    const out = jsonPatch(doc, [
      { op: 'test', path: '/x~1y', value: 1 },
      { op: 'remove', path: '/a/b/0' },
      { op: 'add', path: '/a/b/0', value: 9 },
      { op: 'replace', path: '/x~1y', value: 2 },
      { op: 'copy', from: '/a/b', path: '/c' },
      { op: 'move', from: '/c', path: '/d' },
    ]);
    expect(out).toEqual({ a: { b: [9, 2, 3] }, 'x/y': 2, d: [9, 2, 3] });
    expect(doc).toEqual({ a: { b: [1, 2, 3] }, 'x/y': 1 });
  });

  it.each([
    [[{ op: 'remove', path: '/nope' }], /does not exist/],
    [[{ op: 'replace', path: '/a/zz', value: 1 }], /does not exist/],
    [[{ op: 'add', path: '/a/b/7', value: 1 }], /index out of range/],
    [[{ op: 'test', path: '/x~1y', value: 2 }], /test failed/],
    [[{ op: 'frobnicate', path: '/a' }], /unknown JSON patch operation/],
    [{ op: 'add' }, /must be an array/],
  ])('rejects %j', (ops, message) => {
    expect(() => jsonPatch(doc, ops)).toThrow(message);
  });
});
