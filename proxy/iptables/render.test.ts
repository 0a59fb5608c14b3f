import { describe, expect, it } from 'vitest';
import { newState, changesFrom, rulesConfig, shuffledObjects, snapshotOf } from '../../test/support/flows-fixture.ts';
import { shuffledSnapshot } from '../../test/support/proxy-model.ts';
import { OBJECTS } from '../../lab/flow-table.ts';
import { renderRuleset } from './ruleset.ts';
import { probability } from './render.ts';
import { planPartial, programmedOf } from './restore-plan.ts';
import { renderServicePort } from './render.ts';
import type { ServicePort } from '../model/types.ts';

function flowState() {
  const state = newState();
  const { services, slices } = changesFrom(OBJECTS);
  state.apply(services, slices);
  return state;
}

describe('iptables renderer', () => {
  it('renders the flow-table cluster as the golden ruleset (IPv4 and IPv6)', async () => {
    const state = flowState();
    for (const family of [4, 6] as const) {
      const snapshot = state.snapshot(family);
      if (!snapshot) throw new Error('no snapshot');
      await expect(renderRuleset(snapshot, rulesConfig(family))).toMatchFileSnapshot(`../../test/golden/iptables-ipv${family}.txt`);
    }
  });

  it('renders the same bytes whatever order the objects, endpoints and snapshot maps come in', () => {
    for (const family of [4, 6] as const) {
      const want = renderRuleset(snapshotOf(OBJECTS, family), rulesConfig(family));
      for (const seed of [1, 2, 3, 4, 5]) {
        const snapshot = shuffledSnapshot(snapshotOf(shuffledObjects(OBJECTS, seed), family), seed);
        expect(renderRuleset(snapshot, rulesConfig(family)), `IPv${family}, seed ${seed}`).toBe(want);
      }
    }
  });

  it('uses upstream probabilities', () => {
    expect([2, 3, 4].map(probability)).toEqual(['0.5000000000', '0.3333333333', '0.2500000000']);
    expect(probability(100001)).toBe('0.0000099999');
  });

  it('masquerades everything to a ClusterIP with masqueradeAll, and nothing without a local detector', () => {
    const snapshot = flowState().snapshot(4);
    const key = 'flows/web:p/TCP';
    const sp = snapshot?.services.get(key) as ServicePort;
    const eps = snapshot?.endpoints.get(key) ?? [];
    const ctx = (over: Parameters<typeof rulesConfig>[1]) => ({ config: rulesConfig(4, over), node: { name: 'node-a', zone: 'zone-a' }, largeCluster: false });
    const masq = (over: Parameters<typeof rulesConfig>[1]) =>
      [...renderServicePort(sp, eps, ctx(over)).natChains.values()].flat().filter((r) => r.includes('cluster IP') && r.endsWith('KUBE-MARK-MASQ'));
    expect(masq({})).toEqual([expect.stringContaining('! -s 10.244.0.0/16')]);
    expect(masq({ masqueradeAll: true })).toEqual([expect.not.stringContaining('-s ')]);
    expect(masq({ localDetector: { mode: 'None' } })).toEqual([]);
    expect(masq({ localDetector: { mode: 'InterfaceNamePrefix', prefix: 'veth' } })).toEqual([expect.stringContaining('! -i veth+')]);
  });

  it('drops per-endpoint comments in large-cluster mode', () => {
    const snapshot = flowState().snapshot(4);
    const key = 'flows/web:p/TCP';
    const sp = snapshot?.services.get(key) as ServicePort;
    const r = renderServicePort(sp, snapshot?.endpoints.get(key) ?? [], { config: rulesConfig(4), node: { name: 'node-a', zone: '' }, largeCluster: true });
    const sepRules = [...r.natChains.entries()].filter(([c]) => c.startsWith('KUBE-SEP-')).flatMap(([, rules]) => rules);
    expect(sepRules.length).toBeGreaterThan(0);
    expect(sepRules.every((l) => !l.includes('--comment'))).toBe(true);
  });
});

describe('partial restore plan', () => {
  const rules = (chains: Record<string, string[]>, natShared: string[], filterShared: string[] = []) => ({ natChains: new Map(Object.entries(chains)), natShared, filterShared });

  it('is empty when nothing changed', () => {
    const r = rules({ 'KUBE-SVC-A': ['-A KUBE-SVC-A -j KUBE-SEP-A'] }, ['-A KUBE-SERVICES -d 10.0.0.1 -j KUBE-SVC-A']);
    expect(planPartial(new Map([['a', programmedOf(r)]]), new Map([['a', r]]), ['a'])).toBe('');
  });

  it('rewrites changed chains, deletes gone ones after flushing, and swaps shared rules', () => {
    const before = rules(
      { 'KUBE-SVC-A': ['-A KUBE-SVC-A -j KUBE-SEP-1'], 'KUBE-SEP-1': ['-A KUBE-SEP-1 -j DNAT'] },
      ['-A KUBE-SERVICES -d 10.0.0.1 -j KUBE-SVC-A'],
    );
    const after = rules({ 'KUBE-SEP-2': ['-A KUBE-SEP-2 -j DNAT'], 'KUBE-SVC-A': ['-A KUBE-SVC-A -j KUBE-SEP-2'] }, ['-A KUBE-SERVICES -d 10.0.0.2 -j KUBE-SVC-A'], [
      '-A KUBE-EXTERNAL-SERVICES -d 1.2.3.4 -j DROP',
    ]);
    expect(planPartial(new Map([['a', programmedOf(before)]]), new Map([['a', after]]), ['a'])).toBe(
      [
        '*filter',
        '-A KUBE-EXTERNAL-SERVICES -d 1.2.3.4 -j DROP',
        'COMMIT',
        '*nat',
        ':KUBE-SEP-2 - [0:0]',
        ':KUBE-SVC-A - [0:0]',
        ':KUBE-SEP-1 - [0:0]',
        '-D KUBE-SERVICES -d 10.0.0.1 -j KUBE-SVC-A',
        '-I KUBE-SERVICES 1 -d 10.0.0.2 -j KUBE-SVC-A',
        '-A KUBE-SEP-2 -j DNAT',
        '-A KUBE-SVC-A -j KUBE-SEP-2',
        '-X KUBE-SEP-1',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it('removes everything of a deleted ServicePort', () => {
    const before = rules({ 'KUBE-SVC-A': ['-A KUBE-SVC-A -j KUBE-SEP-1'] }, ['-A KUBE-NODEPORTS --dport 30000 -j KUBE-EXT-A'], ['-A KUBE-SERVICES -d 10.0.0.1 -j REJECT']);
    const text = planPartial(new Map([['a', programmedOf(before)]]), new Map(), ['a']);
    expect(text).toContain('-D KUBE-NODEPORTS --dport 30000 -j KUBE-EXT-A');
    expect(text).toContain('-D KUBE-SERVICES -d 10.0.0.1 -j REJECT');
    expect(text).toContain(':KUBE-SVC-A - [0:0]');
    expect(text).toContain('-X KUBE-SVC-A');
  });
});
