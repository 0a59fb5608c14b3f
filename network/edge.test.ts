// The agent's edges: flags, Node objects, the masquerade table text, the runner's timing,
// which Node updates cost a reconcile.
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../lib/clock.ts';
import { parseNetworkArgs } from './config.ts';
import { renderMasq, renderMasqElements } from './masq.ts';
import { parseNode } from './nodes.ts';
import { ClusterNodes } from './cluster.ts';
import { NetworkHealth } from './metrics.ts';
import { ReconcileRunner } from './runner.ts';
import { isNetworkError } from './errors.ts';

describe('parseNetworkArgs', () => {
  it('has flannel-like defaults and takes kube-proxy-style flags', () => {
    const cfg = parseNetworkArgs(['--hostname-override=Node-A', '--backend', 'host-gw', '--cluster-cidr=10.244.0.0/16,fd00:10:244::/48', '--healthz-bind-address=']);
    expect(cfg).toMatchObject({ nodeName: 'node-a', backend: 'host-gw', vxlanPort: 8472, vni: 1, clusterCIDRs: ['10.244.0.0/16', 'fd00:10:244::/48'], healthzBindAddress: null, metricsBindAddress: { host: '127.0.0.1', port: 10269 }, cleanup: false });
    expect(parseNetworkArgs(['--cleanup']).cleanup).toBe(true);
  });

  it.each([
    [['--backend=ipip'], /--backend: "ipip": expected vxlan or host-gw/],
    [['--vni=abc'], /--vni/],
    [['--vxlan-port=70000'], /--vxlan-port/],
    [['--backend=host-gw', '--direct-routing'], /--direct-routing: applies to the vxlan backend only/],
    [['--cluster-cidr=10.0.0.0/33'], /--cluster-cidr: "10.0.0.0\/33" is not a CIDR/],
    [['--frobnicate'], /--frobnicate: unknown flag/],
    [['--iface'], /--iface: needs a value/],
  ])('refuses %j naming the flag', (argv, message) => {
    expect(() => parseNetworkArgs(argv)).toThrow(message);
    let err: unknown;
    try { parseNetworkArgs(argv); } catch (e) { err = e; }
    expect(isNetworkError(err, 'INVALID_CONFIG')).toBe(true);
  });
});

describe('parseNode', () => {
  const base = { metadata: { name: 'n1' }, spec: { podCIDRs: ['10.244.1.0/24', 'fd00::/64'] }, status: { addresses: [{ type: 'InternalIP', address: '192.168.1.1' }] } };
  it('takes pod CIDRs, InternalIPs and VTEP MACs', () => {
    const r = parseNode({ ...base, metadata: { name: 'n1', annotations: { 'kpr.io/vxlan-vtep-mac': '0A:00:00:00:00:01' } } });
    expect(r).toEqual({ ok: true, node: { name: 'n1', podCIDRs: { 4: '10.244.1.0/24', 6: 'fd00::/64' }, internalIPs: { 4: '192.168.1.1' }, vtepMACs: { 4: '0a:00:00:00:00:01' } } });
  });
  it.each([
    [{ ...base, spec: {} }, /no pod CIDR/],
    [{ ...base, spec: { podCIDRs: ['10.244.1.0/99'] } }, /malformed pod CIDR "10.244.1.0\/99"/],
    [{ ...base, status: { addresses: [{ type: 'Hostname', address: 'n1' }] } }, /no InternalIP/],
    [{ ...base, status: { addresses: [{ type: 'InternalIP', address: '300.1.1.1' }] } }, /malformed InternalIP "300.1.1.1"/],
    [{ ...base, spec: { podCIDRs: 'nope' } }, /malformed Node: spec.podCIDRs/],
  ])('names a Node it cannot use (%#)', (raw, reason) => {
    const r = parseNode(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.name).toBe('n1');
      expect(r.reason).toMatch(reason);
    }
  });
});

describe('renderMasq', () => {
  it('masquerades the node\'s pods to destinations outside the cluster only', () => {
    const text = renderMasq({ podCIDRs: { 4: '10.244.1.0/24', 6: 'fd00:10:244:1::/64' }, clusterCIDRs: ['10.244.0.0/16'], nodeCIDRs: [] });
    expect(text).toContain('elements = { 10.244.0.0/16 }');
    expect(text).toContain('ip saddr 10.244.1.0/24 ip daddr @cluster4 return\n    ip saddr 10.244.1.0/24 ip daddr != 224.0.0.0/4 masquerade');
    expect(text).toContain('ip6 saddr fd00:10:244:1::/64 ip6 daddr @cluster6 return\n    ip6 saddr fd00:10:244:1::/64 ip6 daddr != ff00::/8 masquerade');
    expect(text).not.toContain('nodes4');
    expect(text.startsWith('table inet kpr-network\ndelete table inet kpr-network\n')).toBe(true);
  });

  it('without --cluster-cidr keeps every Node\'s pod CIDR in a hash set per family and prefix length, updated by element', () => {
    const text = renderMasq({ podCIDRs: { 4: '10.244.1.0/24', 6: 'fd00:10:244:1::/64' }, clusterCIDRs: [], nodeCIDRs: ['10.244.1.0/24', '10.244.2.0/24', '10.245.0.0/23', 'fd00:10:244:1::/64'] });
    expect(text).toContain('set nodes4_24 {\n    type ipv4_addr\n    elements = { 10.244.1.0, 10.244.2.0 }');
    expect(text).toContain('ip saddr 10.244.1.0/24 ip daddr & 255.255.254.0 @nodes4_23 return');
    expect(text).toContain('ip6 saddr fd00:10:244:1::/64 ip6 daddr & ffff:ffff:ffff:ffff:: @nodes6_64 return');
    expect(renderMasqElements(['10.244.3.0/24'], ['fd00:10:244:2::/64'])).toBe(
      'delete element inet kpr-network nodes6_64 { fd00:10:244:2:: }\nadd element inet kpr-network nodes4_24 { 10.244.3.0 }\n',
    );
  });
});

describe('ReconcileRunner', () => {
  it('coalesces a burst into one reconcile, never overlaps, retries with backoff, and runs periodically', async () => {
    const clock = new FakeClock();
    const starts: number[] = [];
    let result = true;
    let finish: (() => void) | undefined;
    const t0 = clock.now();
    const runner = new ReconcileRunner({
      debounceMs: 50, periodMs: 30_000, retryMs: 1000, clock,
      reconcile: () => {
        starts.push(clock.now() - t0);
        return new Promise((resolve) => (finish = () => resolve(result)));
      },
    });
    for (let i = 0; i < 5000; i++) runner.request();
    await clock.advance(60);
    expect(starts).toEqual([50]);
    runner.request(); // while running: one more after it
    await clock.advance(500);
    expect(starts).toEqual([50]);
    finish?.();
    await clock.advance(60);
    expect(starts).toEqual([50, 610]);
    result = false;
    finish?.(); // fails: retried after 1 s, then 2 s
    await clock.advance(1000);
    expect(starts).toEqual([50, 610, 1620]);
    finish?.();
    await clock.advance(2000);
    expect(starts).toEqual([50, 610, 1620, 3620]);
    result = true;
    finish?.();
    await clock.advance(30_000);
    expect(starts).toEqual([50, 610, 1620, 3620, 33_620]);
    finish?.();
    await runner.stop();
  });
});

describe('ClusterNodes', () => {
  const node = (name: string, extra: Record<string, unknown> = {}, annotations: Record<string, string> = {}) => ({
    metadata: { name, resourceVersion: String(Math.random()), annotations },
    spec: { podCIDRs: ['10.244.1.0/24'] },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.1.1' }], conditions: [{ type: 'Ready', lastHeartbeatTime: String(Math.random()) }], ...extra },
  });

  it('asks for a reconcile only when something the network depends on changed', () => {
    const nodes = new ClusterNodes('self');
    expect(nodes.upsert(node('peer'))).toBe(true);
    expect(nodes.upsert(node('peer'))).toBe(false); // a status heartbeat
    expect(nodes.upsert(node('peer', {}, { 'kpr.io/vxlan-vtep-mac': '02:00:00:00:00:01' }))).toBe(true);
    expect(nodes.upsert(node('peer', { addresses: [{ type: 'InternalIP', address: '192.168.1.2' }] }, { 'kpr.io/vxlan-vtep-mac': '02:00:00:00:00:01' }))).toBe(true);
    expect(nodes.upsert(node('self'))).toBe(true);
    expect(nodes.upsert(node('self', {}, { 'other.io/x': 'y' }))).toBe(false);
    expect(nodes.upsert(node('self', {}, { 'kpr.io/vxlan6-vtep-mac': '02:00:00:00:00:02' }))).toBe(true);
    expect(nodes.delete(node('peer'))).toBe(true);
    expect(nodes.delete(node('peer'))).toBe(false);
  });

  it('keeps the last valid version of a Node that turns unusable, and names it', () => {
    const nodes = new ClusterNodes('self');
    nodes.upsert(node('self'));
    nodes.upsert(node('peer'));
    nodes.upsert(node('fresh', { addresses: [] }));
    expect(nodes.upsert(node('peer', { addresses: [] }))).toBe(true);
    expect(nodes.own().self?.name).toBe('self');
    expect(nodes.peers().map((p) => [p.name, p.internalIPs[4]])).toEqual([['peer', '192.168.1.1']]);
    expect(nodes.invalid()).toHaveLength(2);
    expect(nodes.invalid()).toEqual(expect.arrayContaining([
      { node: 'peer', reason: 'no InternalIP in status.addresses (its last valid version stays in effect)' },
      { node: 'fresh', reason: 'no InternalIP in status.addresses' },
    ]));
    expect(new ClusterNodes('self').own()).toEqual({ self: undefined, selfProblem: 'no such Node (yet)' });
  });

  it('tells a reconcile which Nodes changed since the last, and which pod CIDRs came or went', () => {
    const nodes = new ClusterNodes('self');
    const cidr = (name: string, c: string) => ({ ...node(name), spec: { podCIDRs: [c] } });
    nodes.upsert(cidr('self', '10.244.0.0/24'));
    nodes.upsert(cidr('p1', '10.244.1.0/24'));
    nodes.upsert(cidr('p2', '10.244.1.0/24'));
    const first = nodes.takeChanges();
    expect(first.self).toBe(true);
    expect([...first.peers.keys()]).toEqual(['p1', 'p2']);
    expect(first.podCIDRs).toEqual(new Map([['10.244.0.0/24', true], ['10.244.1.0/24', true]]));
    expect(nodes.takeChanges()).toEqual({ self: false, peers: new Map(), podCIDRs: new Map() });
    nodes.upsert(cidr('p1', '10.244.2.0/24')); // 10.244.1.0/24 is still p2's
    nodes.upsert(cidr('p2', '10.244.2.0/24')); // a heartbeat-only change would not count; this moves it
    nodes.delete(cidr('p1', '10.244.2.0/24'));
    const next = nodes.takeChanges();
    expect(next.self).toBe(false);
    expect(next.peers).toEqual(new Map([['p1', undefined], ['p2', expect.objectContaining({ name: 'p2', podCIDRs: { 4: '10.244.2.0/24' } })]]));
    expect(next.podCIDRs).toEqual(new Map([['10.244.2.0/24', true], ['10.244.1.0/24', false]]));
    expect(nodes.podCIDRs().sort()).toEqual(['10.244.0.0/24', '10.244.2.0/24']);
  });
});

describe('NetworkHealth', () => {
  it('is unhealthy until the first reconcile, then while reconciles keep completing', async () => {
    const clock = new FakeClock();
    const h = new NetworkHealth(clock, 70_000);
    expect(h.status()).toMatchObject({ healthy: false });
    expect(JSON.parse(h.status().body)).toMatchObject({ lastUpdated: null });
    h.reconciled();
    await clock.advance(70_000);
    expect(h.status().healthy).toBe(true);
    await clock.advance(1);
    expect(h.status().healthy).toBe(false);
  });
});

