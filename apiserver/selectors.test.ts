import { describe, expect, it } from 'vitest';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.ts';

describe('parseLabelSelector', () => {
  it.each([
    ['', []],
    ['a=b', [{ key: 'a', op: 'eq', values: ['b'] }]],
    ['a==b', [{ key: 'a', op: 'eq', values: ['b'] }]],
    ['a!=b', [{ key: 'a', op: 'neq', values: ['b'] }]],
    ['a', [{ key: 'a', op: 'exists', values: [] }]],
    ['!a', [{ key: 'a', op: 'notexists', values: [] }]],
    ['a in (x, y)', [{ key: 'a', op: 'in', values: ['x', 'y'] }]],
    ['a notin (x)', [{ key: 'a', op: 'notin', values: ['x'] }]],
    ['a>5', [{ key: 'a', op: 'gt', values: ['5'] }]],
    ['a=', [{ key: 'a', op: 'eq', values: [''] }]],
    ['!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless', [
      { key: 'service.kubernetes.io/service-proxy-name', op: 'notexists', values: [] },
      { key: 'service.kubernetes.io/headless', op: 'notexists', values: [] },
    ]],
    ['env in (a,b),tier=web , x', [
      { key: 'env', op: 'in', values: ['a', 'b'] },
      { key: 'tier', op: 'eq', values: ['web'] },
      { key: 'x', op: 'exists', values: [] },
    ]],
  ])('parses %j', (text, want) => {
    expect(parseLabelSelector(text)).toEqual(want);
  });

  it.each(['a=b,', 'a in (x', 'a in ()', '-a', 'a=b c', 'a>x', 'Bad_Prefix/x', 'a in x'])('rejects %j', (text) => {
    expect(() => parseLabelSelector(text)).toThrow(/invalid label selector/);
  });
});

describe('matchesLabels', () => {
  const labels = { app: 'web', tier: 'front', n: '7' };
  it.each([
    ['', true],
    ['app=web', true],
    ['app=db', false],
    ['app!=db', true],
    ['missing!=x', true],
    ['app', true],
    ['missing', false],
    ['!missing', true],
    ['!app', false],
    ['tier in (front,back)', true],
    ['tier in (back)', false],
    ['missing in (x)', false],
    ['tier notin (back)', true],
    ['missing notin (x)', true],
    ['tier notin (front)', false],
    ['n>5', true],
    ['n<5', false],
    ['app=web,tier=back', false],
    ['app=web,tier=front', true],
  ])('%j → %s', (text, want) => {
    expect(matchesLabels(parseLabelSelector(text), labels)).toBe(want);
  });

  it('treats missing labels as empty', () => {
    expect(matchesLabels(parseLabelSelector('!a,b!=c'), undefined)).toBe(true);
    expect(matchesLabels(parseLabelSelector('a'), undefined)).toBe(false);
  });
});

describe('field selectors', () => {
  const supported = ['metadata.name', 'metadata.namespace'];
  const fields = { 'metadata.name': 'node-a', 'metadata.namespace': 'default' };
  it.each([
    ['metadata.name=node-a', true],
    ['metadata.name==node-a', true],
    ['metadata.name=node-b', false],
    ['metadata.name!=node-b', true],
    ['metadata.name=node-a,metadata.namespace!=default', false],
    ['', true],
  ])('%j → %s', (text, want) => {
    expect(matchesFields(parseFieldSelector(text, supported), fields)).toBe(want);
  });

  it('rejects unsupported fields and bad syntax', () => {
    expect(() => parseFieldSelector('spec.clusterIP=1.2.3.4', supported)).toThrow(/field label not supported: spec.clusterIP/);
    expect(() => parseFieldSelector('metadata.name', supported)).toThrow(/invalid field selector/);
  });
});
