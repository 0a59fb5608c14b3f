import { describe, expect, it } from 'vitest';
import { newState, changesFrom, rulesConfig, shuffledObjects, snapshotOf } from '../../test/support/flows-fixture.ts';
import { shuffledSnapshot } from '../../test/support/proxy-model.ts';
import { OBJECTS } from '../../lab/flow-table.ts';
import { renderRuleset } from './ruleset.ts';
import { probability } from './render.ts';
import { CURRENT_NODE } from './features.ts';
import { planFull, planPartial, programmedOf } from './restore-plan.ts';
import { renderBase, renderServicePort } from './render.ts';
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

  it('counts into nfacct and masquerades with --random-fully only where the node supports them', () => {
    const snapshot = flowState().snapshot(4);
    if (!snapshot) throw new Error('no snapshot');
    const lines = (features: typeof CURRENT_NODE) => renderRuleset(snapshot, rulesConfig(4), features).split('\n');
    const current = lines(CURRENT_NODE);
    expect(current).toContain('-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP');
    expect(current).toContain('-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully');
    // Upstream's localhost NodePort counting rule comes before the NodePort's own.
    const np = current.filter((l) => l.startsWith('-A KUBE-NODEPORTS -m comment --comment flows/np:p '));
    expect(np).toEqual([
      expect.stringContaining('-d 127.0.0.0/8 --dport 30080 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-'),
      expect.stringMatching(/ -m tcp -p tcp --dport 30080 -j KUBE-EXT-/),
    ]);
    const old = lines({ randomFully: false, nfacct: new Set() });
    expect(old).toContain('-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP');
    expect(old).toContain('-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE');
    expect(old.filter((l) => l.includes('nfacct') || l.includes('127.0.0.0/8 --dport'))).toEqual([]);
    // No 127.0.0.1 NodePorts, nothing to count: IPv6, or localhostNodePorts off, or loopback outside nodePortAddresses.
    const v6 = flowState().snapshot(6);
    if (!v6) throw new Error('no snapshot');
    expect(renderRuleset(v6, rulesConfig(6))).not.toContain('localhost_nps_accepted_pkts');
    expect(renderRuleset(snapshot, rulesConfig(4, { localhostNodePorts: false }))).not.toContain('localhost_nps_accepted_pkts');
    expect(renderRuleset(snapshot, rulesConfig(4, { nodePortIPs: ['192.0.2.1'] }))).not.toContain('localhost_nps_accepted_pkts');
    expect(renderRuleset(snapshot, rulesConfig(4, { nodePortIPs: ['192.0.2.1', '127.0.0.1'] }))).toContain('localhost_nps_accepted_pkts');
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
    const ctx = (over: Parameters<typeof rulesConfig>[1]) => ({ config: rulesConfig(4, over), node: { name: 'node-a', zone: 'zone-a' }, largeCluster: false, features: CURRENT_NODE });
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
    const r = renderServicePort(sp, snapshot?.endpoints.get(key) ?? [], { config: rulesConfig(4), node: { name: 'node-a', zone: '' }, largeCluster: true, features: CURRENT_NODE });
    const sepRules = [...r.natChains.entries()].filter(([c]) => c.startsWith('KUBE-SEP-')).flatMap(([, rules]) => rules);
    expect(sepRules.length).toBeGreaterThan(0);
    expect(sepRules.every((l) => !l.includes('--comment'))).toBe(true);
  });
});

describe('full restore plan: jumps from the built-in chains', () => {
  const base = renderBase(rulesConfig(4), CURRENT_NODE);
  const saved = (chain: string, specs: string[]) => specs.map((spec) => `-A ${chain} ${spec}`);
  const input = base.jumps.filter(([t, c]) => t === 'filter' && c === 'INPUT').map(([, , spec]) => spec);
  const jumpLines = (jumps: { filter: string[]; nat: string[] }) =>
    [...planFull(base, [], { natChains: new Set(), jumps })].join('').split('\n').filter((l) => / (INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) /.test(l));

  it("are upstream's order, top first", () => {
    expect(input.map((spec) => /-j (\S+)$/.exec(spec)?.[1])).toEqual(['KUBE-FIREWALL', 'KUBE-PROXY-FIREWALL', 'KUBE-NODEPORTS', 'KUBE-EXTERNAL-SERVICES']);
  });

  it('are left alone where the kernel has them in that order, and rewritten in order where not', () => {
    const all = (table: 'filter' | 'nat') => base.jumps.filter(([t]) => t === table).map(([, chain, spec]) => `-A ${chain} ${spec}`);
    expect(jumpLines({ filter: all('filter'), nat: all('nat') })).toEqual([]);
    const reversed = saved('INPUT', [...input].reverse());
    const lines = jumpLines({ filter: [...reversed, ...all('filter').filter((l) => !l.startsWith('-A INPUT '))], nat: all('nat') });
    expect(lines).toEqual([...reversed.map((l) => `-D ${l.slice(3)}`), ...input.map((spec, i) => `-I INPUT ${i + 1} ${spec}`)]);
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
