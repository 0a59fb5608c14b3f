import { describe, expect, it } from 'vitest';
import { formatRestore } from './ipvsadm.ts';
import { renderIpvs, type RenderInput } from './render.ts';
import { renderRuleset } from './ruleset.ts';
import { endpoint, rulesConfig, servicePort, shuffledSnapshot, snapshot } from '../../test/support/proxy-model.ts';
import { shuffledObjects, snapshotOf } from '../../test/support/flows-fixture.ts';
import { OBJECTS } from '../../lab/flow-table.ts';
import type { ProxySnapshot } from '../model/types.ts';

function render(snap: ProxySnapshot, over: Partial<RenderInput> = {}) {
  return renderIpvs({ snapshot: snap, scheduler: 'rr', nodeIP: '192.168.0.2', nodePortAddresses: ['192.168.0.2'], otherLocalAddresses: new Set(['192.168.0.2']), ...over });
}
/** The table as ipvsadm -R lines: compact and familiar. */
const table = (snap: ProxySnapshot, over: Partial<RenderInput> = {}) =>
  formatRestore(render(snap, over).virtualServers.flatMap((vs) => [{ op: 'add-service' as const, vs }, ...vs.realServers.map((rs) => ({ op: 'add-server' as const, vs, rs }))]))
    .trimEnd().split('\n');
const nonEmptySets = (snap: ProxySnapshot, over: Partial<RenderInput> = {}) =>
  Object.fromEntries([...render(snap, over).ipsets].filter(([, m]) => m.size > 0).map(([n, m]) => [n, [...m]]));

describe('renderIpvs', () => {
  it('ClusterIP: one virtual server, ready endpoints as masq real servers of weight 1, the VIP bound', () => {
    const snap = snapshot([[servicePort('ns', 'web'), [endpoint('10.244.2.7'), endpoint('10.244.1.5'), endpoint('10.244.1.6', { ready: false, serving: true, terminating: true })]]]);
    expect(table(snap)).toEqual([
      '-A -t 10.96.0.1:80 -s rr',
      '-a -t 10.96.0.1:80 -r 10.244.1.5:8080 -m -w 1',
      '-a -t 10.96.0.1:80 -r 10.244.2.7:8080 -m -w 1',
    ]);
    expect(render(snap).boundAddresses).toEqual(['10.96.0.1']);
    expect(nonEmptySets(snap)).toEqual({ 'KUBE-CLUSTER-IP': ['10.96.0.1,tcp:80'], 'KUBE-IPVS-IPS': ['10.96.0.1'] });
  });

  it('a Service without endpoints still gets its (empty) virtual server', () => {
    expect(table(snapshot([[servicePort('ns', 'empty', { protocol: 'UDP', port: 53 }), []]]))).toEqual(['-A -u 10.96.0.1:53 -s rr']);
  });

  it('NodePort: one virtual server per node address, port in the masquerade bitmap', () => {
    const snap = snapshot([[servicePort('ns', 'np', { nodePort: 30080 }), [endpoint('10.244.1.5')]]]);
    expect(table(snap, { nodePortAddresses: ['192.168.0.2', '10.0.0.5'] })).toEqual([
      '-A -t 10.0.0.5:30080 -s rr',
      '-a -t 10.0.0.5:30080 -r 10.244.1.5:8080 -m -w 1',
      '-A -t 10.96.0.1:80 -s rr',
      '-a -t 10.96.0.1:80 -r 10.244.1.5:8080 -m -w 1',
      '-A -t 192.168.0.2:30080 -s rr',
      '-a -t 192.168.0.2:30080 -r 10.244.1.5:8080 -m -w 1',
    ]);
    expect(nonEmptySets(snap)['KUBE-NODE-PORT-TCP']).toEqual(['30080']);
    expect(render(snap).boundAddresses).toEqual(['10.96.0.1']);
  });

  it('LB VIP ports whose source ranges leave out the node are listed for the node-access filter', () => {
    const out = servicePort('ns', 'out', { loadBalancerVIPs: ['198.51.100.8'], loadBalancerSourceRanges: ['203.0.113.0/24'] });
    const inside = servicePort('ns', 'in', { loadBalancerVIPs: ['198.51.100.9'], loadBalancerSourceRanges: ['192.168.0.0/24'] });
    const open = servicePort('ns', 'open', { loadBalancerVIPs: ['198.51.100.10'] });
    const snap = snapshot([[out, [endpoint('10.244.1.5')]], [inside, [endpoint('10.244.1.5')]], [open, [endpoint('10.244.1.5')]]]);
    expect(render(snap).lbNoNodeAccess).toEqual([{ ip: '198.51.100.8', protocol: 'tcp', port: 80 }]);
    // A node whose address is unknown is never admitted.
    expect(render(snap, { nodeIP: '' }).lbNoNodeAccess.map((e) => e.ip)).toEqual(['198.51.100.8', '198.51.100.9']);
  });

  it('externalIPs and LB VIPs are bound unless already local; source ranges fill the firewall sets', () => {
    const sp = servicePort('ns', 'lb', {
      externalIPs: ['203.0.113.9'], loadBalancerVIPs: ['198.51.100.7', '192.168.0.2'],
      loadBalancerSourceRanges: ['192.168.0.0/24', '0.0.0.0/0'], nodePort: 30443,
    });
    const snap = snapshot([[sp, [endpoint('10.244.1.5')]]]);
    const d = render(snap);
    expect(d.boundAddresses).toEqual(['10.96.0.1', '198.51.100.7', '203.0.113.9']);
    expect(d.virtualServers.map((v) => `${v.address}:${v.port}`)).toEqual(['10.96.0.1:80', '192.168.0.2:30443', '192.168.0.2:80', '198.51.100.7:80', '203.0.113.9:80']);
    const sets = nonEmptySets(snap);
    expect(sets['KUBE-LOAD-BALANCER']).toEqual(['198.51.100.7,tcp:80', '192.168.0.2,tcp:80']);
    expect(sets['KUBE-LOAD-BALANCER-FW']).toEqual(sets['KUBE-LOAD-BALANCER']);
    expect(sets['KUBE-LOAD-BALANCER-SOURCE-CIDR']).toEqual([
      '198.51.100.7,tcp:80,192.168.0.0/24', '198.51.100.7,tcp:80,0.0.0.0/1', '198.51.100.7,tcp:80,128.0.0.0/1',
      '192.168.0.2,tcp:80,192.168.0.0/24', '192.168.0.2,tcp:80,0.0.0.0/1', '192.168.0.2,tcp:80,128.0.0.0/1',
    ]);
    // The node (192.168.0.2) is inside the ranges: its own VIP traffic is admitted.
    expect(sets['KUBE-LOAD-BALANCER-SOURCE-IP']).toEqual(['198.51.100.7,tcp:80,198.51.100.7', '192.168.0.2,tcp:80,192.168.0.2']);
    expect(sets['KUBE-EXTERNAL-IP']).toEqual(['203.0.113.9,tcp:80']);
    expect(sets['KUBE-IPVS-IPS']).toEqual(['10.96.0.1', '198.51.100.7', '203.0.113.9']);
  });

  it('ClientIP affinity becomes persistence; mh adds the source-port hash flag', () => {
    const snap = snapshot([[servicePort('ns', 'aff', { affinityTimeoutSeconds: 600 }), [endpoint('10.244.1.5')]]]);
    expect(table(snap)[0]).toBe('-A -t 10.96.0.1:80 -s rr -p 600');
    expect(table(snap, { scheduler: 'mh' })[0]).toBe('-A -t 10.96.0.1:80 -s mh -p 600 -b mh-port');
  });

  it('eTP Local: external servers use local endpoints, ClusterIP all; Local sets skip masquerade', () => {
    const sp = servicePort('ns', 'loc', { nodePort: 30081, loadBalancerVIPs: ['198.51.100.8'], externalIPs: ['203.0.113.8'], externalPolicyLocal: true, healthCheckNodePort: 32000 });
    const snap = snapshot([[sp, [endpoint('10.244.1.5', { isLocal: true }), endpoint('10.244.2.5')]]]);
    const d = render(snap);
    const rs = (addr: string) => d.virtualServers.find((v) => v.address === addr)?.realServers.map((r) => r.address);
    expect(rs('10.96.0.1')).toEqual(['10.244.1.5', '10.244.2.5']);
    expect(rs('192.168.0.2')).toEqual(['10.244.1.5']);
    expect(rs('198.51.100.8')).toEqual(['10.244.1.5']);
    expect(rs('203.0.113.8')).toEqual(['10.244.1.5']);
    const sets = nonEmptySets(snap);
    expect(sets['KUBE-NODE-PORT-LOCAL-TCP']).toEqual(['30081']);
    expect(sets['KUBE-LOAD-BALANCER-LOCAL']).toEqual(['198.51.100.8,tcp:80']);
    expect(sets['KUBE-EXTERNAL-IP-LOCAL']).toEqual(['203.0.113.8,tcp:80']);
    expect(sets['KUBE-EXTERNAL-IP']).toBeUndefined();
    expect(sets['KUBE-HEALTH-CHECK-NODE-PORT']).toEqual(['32000']);
    expect(sets['KUBE-LOOP-BACK']).toEqual(['10.244.1.5,tcp:8080,10.244.1.5']);
  });

  it('Local policy without local endpoints falls back to cluster endpoints (upstream IPVS), iTP Local alone gets none', () => {
    const ext = servicePort('ns', 'ext', { nodePort: 30082, externalPolicyLocal: true });
    const int = servicePort('ns', 'int', { clusterIP: '10.96.0.2', internalPolicyLocal: true });
    const d = render(snapshot([[ext, [endpoint('10.244.2.5')]], [int, [endpoint('10.244.2.6')]]]));
    expect(d.virtualServers.map((v) => `${v.address}:${v.port} ${v.realServers.map((r) => r.address).join(',')}`)).toEqual([
      '10.96.0.1:80 10.244.2.5', '10.96.0.2:80 ', '192.168.0.2:30082 10.244.2.5',
    ]);
  });

  it('IPv6: bracketed addresses, KUBE-6- sets, /128 and match-all source ranges', () => {
    const sp = servicePort('ns', 'v6', { clusterIP: 'fd00:96::1', loadBalancerVIPs: ['2001:db8::7'], loadBalancerSourceRanges: ['::/0', '2001:db8::5/128'] });
    const snap = snapshot([[sp, [endpoint('fd00:244::5')]]], 6);
    expect(table(snap, { nodeIP: '', nodePortAddresses: [], otherLocalAddresses: new Set() })).toContain('-a -t [fd00:96::1]:80 -r [fd00:244::5]:8080 -m -w 1');
    const sets = nonEmptySets(snap, { nodeIP: '' });
    expect(sets['KUBE-6-CLUSTER-IP']).toEqual(['fd00:96::1,tcp:80']);
    expect(sets['KUBE-6-LOAD-BALANCER-SRC-CIDR']).toEqual(['2001:db8::7,tcp:80,::/1', '2001:db8::7,tcp:80,8000::/1', '2001:db8::7,tcp:80,2001:db8::5']);
  });

  it('renders the same bytes whatever order the objects, endpoints and snapshot maps come in', () => {
    for (const family of [4, 6] as const) {
      const config = rulesConfig({ family, nodeIP: family === 4 ? '192.0.2.1' : 'fd00:192::1', localDetector: { mode: 'ClusterCIDR', cidrs: [family === 4 ? '10.244.0.0/16' : 'fd00:10:244::/48'] } });
      const want = renderRuleset(snapshotOf(OBJECTS, family), config);
      for (const seed of [1, 2, 3, 4, 5]) {
        const snap = shuffledSnapshot(snapshotOf(shuffledObjects(OBJECTS, seed), family), seed);
        expect(renderRuleset(snap, config), `IPv${family}, seed ${seed}`).toBe(want);
      }
    }
  });
});

describe('renderRuleset', () => {
  it('writes ipsets, the table, the VIPs and the iptables input in apply order', () => {
    const text = renderRuleset(snapshot([[servicePort('ns', 'np', { nodePort: 30080 }), [endpoint('10.244.1.5')]]]), rulesConfig({ nodeIP: '192.168.0.2' }));
    const at = (s: string) => text.indexOf(s);
    expect(at('add KUBE-NODE-PORT-TCP 30080\n')).toBeGreaterThan(at('# ipset restore'));
    expect(at('-A -t 192.168.0.2:30080 -s rr\n')).toBeGreaterThan(at('# ipvsadm -R'));
    expect(at('address add 10.96.0.1/32 dev kube-ipvs0\n')).toBeGreaterThan(at('# ip -batch'));
    expect(at('*nat\n')).toBeGreaterThan(at('# iptables-restore'));
  });
});
