import { describe, expect, it } from 'vitest';
import { normalizeIP } from '../../lib/ip.ts';
import type { ProxySnapshot } from '../model/types.ts';
import { endpoint, rulesConfig, servicePort, shuffledSnapshot, snapshot } from '../../test/support/proxy-model.ts';
import { shuffledObjects, snapshotOf } from '../../test/support/flows-fixture.ts';
import { OBJECTS } from '../../lab/flow-table.ts';
import { Planner } from './planner.ts';
import { assignSlots } from './render.ts';

// A node with ClusterIP, NodePort + externalIP + LB with source ranges (eTP Local),
// ClientIP affinity, a Service without endpoints, and a terminating-only Service.
function fixture(family: 4 | 6) {
  const v6 = family === 6;
  const ip = (s: string) => (v6 ? (normalizeIP(`fd00::${s.split('.').slice(-2).join(':')}`) as string) : s);
  const web = servicePort('ns1', 'web', { clusterIP: ip('10.96.0.10') });
  const lb = servicePort('ns1', 'lb', {
    clusterIP: ip('10.96.0.20'), nodePort: 30080, externalIPs: [ip('192.168.9.9')], loadBalancerVIPs: [ip('5.6.7.8')],
    loadBalancerSourceRanges: [v6 ? 'fd00::/120' : '192.168.0.0/24'], externalPolicyLocal: true,
  });
  const dns = servicePort('ns1', 'dns', { clusterIP: ip('10.96.0.30'), protocol: 'UDP', portName: 'dns', port: 53, affinityTimeoutSeconds: 600 });
  const none = servicePort('ns1', 'none', { clusterIP: ip('10.96.0.40') });
  const term = servicePort('ns1', 'term', { clusterIP: ip('10.96.0.50'), protocol: 'SCTP' });
  return snapshot([
    [web, [endpoint(ip('10.244.1.5')), endpoint(ip('10.244.2.7'))]],
    [lb, [endpoint(ip('10.244.1.9'), { isLocal: true }), endpoint(ip('10.244.2.9'))]],
    [dns, [endpoint(ip('10.244.1.53'), { port: 53 })]],
    [none, []],
    [term, [endpoint(ip('10.244.2.10'), { port: 9000, ready: false, serving: true, terminating: true })]],
  ], family);
}

describe('nftables render (golden)', () => {
  for (const family of [4, 6] as const) {
    it(`renders the full IPv${family} transaction`, async () => {
      const p = new Planner();
      const config = rulesConfig(family === 4
        ? { nodePortIPs: ['192.168.0.2', '127.0.0.1'], serviceCIDRs: ['10.96.0.0/16'] }
        : { family: 6, nodeIP: 'fd00::2', localDetector: { mode: 'ClusterCIDR', cidrs: ['fd00::/104'] }, serviceCIDRs: ['fd00::/112'] });
      p.update(fixture(family), config, undefined);
      await expect(p.full(undefined).render()).toMatchFileSnapshot(`testdata/full-ipv${family}.nft`);
    });
  }

  it('renders the same bytes whatever order the objects, endpoints and snapshot maps come in', () => {
    const render = (snap: ProxySnapshot) => {
      const p = new Planner();
      p.update(snap, rulesConfig({ family: snap.family, serviceCIDRs: snap.family === 4 ? ['10.96.0.0/16'] : ['fd00:96::/112'] }), undefined);
      return p.full(undefined).render();
    };
    for (const family of [4, 6] as const) {
      const want = render(snapshotOf(OBJECTS, family));
      for (const seed of [1, 2, 3, 4, 5]) {
        expect(render(shuffledSnapshot(snapshotOf(shuffledObjects(OBJECTS, seed), family), seed)), `IPv${family}, seed ${seed}`).toBe(want);
      }
    }
  });
});

describe('assignSlots', () => {
  it('keeps surviving endpoints in place and fills holes with the newcomers', () => {
    expect(assignSlots([], ['a', 'b', 'c'])).toEqual(['a', 'b', 'c']);
    expect(assignSlots(['a', 'b', 'c', 'd'], ['a', 'c', 'd'])).toEqual(['a', 'd', 'c']);
    expect(assignSlots(['a', 'b'], ['a', 'b', 'x'])).toEqual(['a', 'b', 'x']);
    expect(assignSlots(['a', 'b', 'c'], ['x', 'c'])).toEqual(['x', 'c']);
  });
});
