// kpr network's host-gw backend, VXLAN with direct routing, switching between them,
// malformed Nodes and --cleanup, with real packets between pod namespaces. One cluster,
// the tests run in order (each starts from the state the previous one left).
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../lib/exec.ts';
import { KPR_BIN } from '../lab/kpr-process.ts';
import { kprTables, NetworkCluster, NODES, podIP } from '../lab/network-cluster.ts';

let c: NetworkCluster;
const hostGwTables = new Map<string, string>();

beforeAll(async () => {
  c = await NetworkCluster.create();
  for (const name of ['a', 'b', 'c']) {
    await c.node(name).podAgent.listen('tcp', 8080, `pod-${name}`);
    await c.node(name).podAgent.listen('udp', 8081, `pod-${name}`);
  }
}, 120_000);

afterAll(async () => {
  await c?.destroy();
});

async function reaches(from: string, to: string, family: 4 | 6, proto: 'tcp' | 'udp' = 'tcp'): Promise<boolean> {
  const dst = c.node(to).spec;
  const r = await c.node(from).podAgent.call({ op: 'probe', proto, host: podIP(family === 4 ? dst.pod4 : dst.pod6), port: proto === 'tcp' ? 8080 : 8081, timeoutMs: 1500 });
  const src = c.node(from).spec;
  return r.ok && r.reply === `pod-${to} ${podIP(family === 4 ? src.pod4 : src.pod6)}`;
}

const routes = async (name: string, family: 4 | 6) =>
  (await c.node(name).ns.exec('ip', [`-${family}`, 'route', 'show', 'proto', '107'])).stdout.split('\n').map((l) => l.trim()).filter(Boolean).sort();

async function restartAll(extra: readonly string[]): Promise<void> {
  // SIGTERM, as a DaemonSet rollout: routes stay until the new agent reconciles them.
  await Promise.all(NODES.map((s) => c.node(s.name).agent?.kill('SIGTERM')));
  await c.startAll(extra);
}

describe('kpr network across backends', () => {
  it('host-gw routes to peers on the segment via their InternalIP and names the peer behind the router', async () => {
    await c.startAll(['--backend', 'host-gw']);
    await c.waitPeers(1, ['a', 'b']);
    expect(await routes('a', 4)).toEqual(['10.244.2.0/24 via 192.168.10.2 dev eth0']);
    expect(await routes('a', 6)).toEqual(['fd00:10:244:2::/64 via fd00:a::2 dev eth0 metric 1024 pref medium']);
    for (const family of [4, 6] as const) {
      for (const proto of ['tcp', 'udp'] as const) expect(await reaches('a', 'b', family, proto), `a -> b IPv${family} ${proto}`).toBe(true);
      expect(await reaches('a', 'c', family)).toBe(false);
    }
    const a = c.node('a').agent;
    expect(a?.logs.find((l) => l.node === 'c' && l.msg === 'peer not reachable with host-gw; no route to its pods')).toBeDefined();
    expect((await c.http('a', 10269, '/metrics')).body).toMatch(/^kpr_network_unreachable_peers\{node="c",ip_family="IPv4"\} 1$/m);
    expect(c.readNodeFile('a')).toMatchObject({ mtu: 1500 });
    expect((await c.node('a').ns.exec('ip', ['link', 'show', 'type', 'vxlan'])).stdout).toBe('');
    for (const s of NODES) hostGwTables.set(s.name, await kprTables(c.node(s.name).ns));
  });

  it('skips malformed Nodes with a log line naming each, and the rest carries on', async () => {
    const bad = [
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'bad-cidr' }, spec: { podCIDRs: ['10.244.99.0/40'] }, status: { addresses: [{ type: 'InternalIP', address: '192.168.10.99' }] } },
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'no-ip' }, spec: { podCIDRs: ['10.244.98.0/24'] }, status: { addresses: [] } },
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'bad-ip' }, spec: { podCIDRs: ['10.244.97.0/24'] }, status: { addresses: [{ type: 'InternalIP', address: '192.168.10.300' }] } },
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'no-cidr' }, spec: {}, status: { addresses: [{ type: 'InternalIP', address: '192.168.10.96' }] } },
    ];
    for (const o of bad) c.api.create(o);
    const a = c.node('a').agent;
    for (const o of bad) await a?.waitForLog((l) => l.msg === 'Node skipped' && l.node === o.metadata.name, 5000, true);
    expect((await c.http('a', 10269, '/metrics')).body).toMatch(/^kpr_network_skipped_nodes\{node="bad-ip",reason="malformed InternalIP \\"192.168.10.300\\""\} 1$/m);
    expect(await routes('a', 4)).toEqual(['10.244.2.0/24 via 192.168.10.2 dev eth0']);
    expect(await reaches('a', 'b', 4)).toBe(true);
    for (const o of bad) c.api.remove('Node', undefined, o.metadata.name);
  });

  it('vxlan with --direct-routing: host-gw routes on the segment, VXLAN across the router', async () => {
    await restartAll(['--backend', 'vxlan', '--direct-routing', '--sync-period', '2s']);
    await c.waitPeers(2);
    expect(await routes('a', 4)).toEqual(['10.244.2.0/24 via 192.168.10.2 dev eth0', '10.244.3.0/24 via 10.244.3.0 dev kpr-vxlan4 onlink']);
    const fdb = (await c.node('a').ns.exec('bridge', ['fdb', 'show', 'dev', 'kpr-vxlan4'])).stdout;
    expect(fdb).toContain('dst 192.168.20.3');
    expect(fdb).not.toContain('dst 192.168.10.2');
    for (const [from, to] of [['a', 'b'], ['a', 'c'], ['c', 'b']] as const) {
      for (const family of [4, 6] as const) expect(await reaches(from, to, family), `${from} -> ${to} IPv${family}`).toBe(true);
    }
  });

  it('repairs entries removed behind its back within a sync period', async () => {
    const b = c.node('b');
    const before = await kprTables(b.ns);
    await b.ns.ipBatch(['route del 10.244.3.0/24 proto 107', 'neigh del 10.244.3.0 dev kpr-vxlan4']);
    expect(await kprTables(b.ns)).not.toBe(before);
    for (let i = 0; (await kprTables(b.ns)) !== before; i++) {
      if (i > 100) throw new Error('not repaired within 5 s (--sync-period 2s)');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await reaches('b', 'c', 4)).toBe(true);
  });

  it('SIGTERM leaves the routes; --cleanup alone removes exactly what kpr network made', async () => {
    const a = c.node('a');
    await a.agent?.kill('SIGTERM');
    expect(await routes('a', 4)).toHaveLength(2);
    // Decoys: a static route, a permanent neighbour, a VXLAN device with an FDB entry, a route of another protocol on kpr's table.
    await a.ns.ipBatch([
      'route add 10.99.0.0/24 via 192.168.10.2 proto static',
      'route add 10.98.0.0/24 via 192.168.10.2 proto 108',
      'neigh add 192.168.10.77 lladdr 02:00:00:00:00:77 dev eth0 nud permanent',
      'link add vx-decoy type vxlan id 9 local 192.168.10.1 dev eth0 dstport 4789 nolearning',
      'link set vx-decoy up',
    ]);
    await a.ns.exec('bridge', ['fdb', 'append', '02:00:00:00:00:78', 'dev', 'vx-decoy', 'dst', '192.168.10.78', 'self', 'permanent']);
    await a.ns.exec('nft', ['add table inet decoy']);
    const decoys = async () => [
      (await a.ns.exec('ip', ['-4', 'route', 'show', 'table', 'main'])).stdout.split('\n').filter((l) => /10\.9[89]\.0\.0/.test(l)),
      (await a.ns.exec('ip', ['neigh', 'show', 'nud', 'permanent', 'dev', 'eth0'])).stdout,
      (await a.ns.exec('bridge', ['fdb', 'show', 'dev', 'vx-decoy'])).stdout,
      (await a.ns.exec('nft', ['list', 'tables'])).stdout.split('\n').filter((l) => l.includes('decoy')),
    ];
    const before = await decoys();
    // The flagless form would remove the default node file; only run it when no real one exists there.
    const args = existsSync('/run/kpr/node.json') ? ['--cleanup', '--node-file', a.nodeFile] : ['--cleanup'];
    const out = await run('ip', ['netns', 'exec', a.ns.name, KPR_BIN, 'network', ...args], { allowFailure: true });
    expect(out.exitCode, out.stderr).toBe(0);
    if (args.length > 1) expect(existsSync(a.nodeFile)).toBe(false);
    expect(await routes('a', 4)).toEqual([]);
    expect(await routes('a', 6)).toEqual([]);
    expect((await a.ns.exec('ip', ['link', 'show'])).stdout).not.toContain('kpr-vxlan');
    expect((await a.ns.exec('nft', ['list', 'tables'])).stdout).not.toContain('kpr-network');
    expect(await decoys()).toEqual(before);
    expect(before[0]).toHaveLength(2);
    expect(before[1]).toContain('192.168.10.77');
    expect(before[2]).toContain('02:00:00:00:00:78');
  });

  it('switching back to host-gw leaves no trace of VXLAN', async () => {
    await Promise.all(['b', 'c'].map((n) => c.node(n).agent?.kill('SIGTERM')));
    await c.startAll(['--backend', 'host-gw']);
    await c.waitPeers(1, ['a', 'b']);
    for (const s of NODES) {
      if (s.name === 'a') continue; // its tables hold the decoys now
      expect(await kprTables(c.node(s.name).ns), s.name).toBe(hostGwTables.get(s.name));
    }
    expect(Object.keys(c.annotations('b')).filter((k) => k.startsWith('kpr.io/'))).toEqual([]);
    expect(await reaches('b', 'a', 4)).toBe(true);
  });

  it('never replaces a foreign route to a peer\'s pod CIDR: the failure is logged and the rest is programmed', async () => {
    const a = c.node('a');
    await a.agent?.kill('SIGTERM');
    await a.ns.ipBatch(['route del 10.244.2.0/24 proto 107', 'route add 10.244.2.0/24 via 192.168.10.254 proto static']);
    const agent = await c.startAgent('a', ['--backend', 'host-gw'], false);
    const line = await agent.waitForLog((l) => l.msg === 'a kernel change failed; retrying later', 20_000, true);
    expect(String(line.err)).toContain('route add 10.244.2.0/24 via 192.168.10.2 dev eth0 proto 107');
    await agent.waitForLog((l) => l.msg === 'reconciled', 5000, true);
    expect((await a.ns.exec('ip', ['-4', 'route', 'show', '10.244.2.0/24'])).stdout.trim()).toBe('10.244.2.0/24 via 192.168.10.254 dev eth0 proto static');
    expect(await routes('a', 6)).toEqual(['fd00:10:244:2::/64 via fd00:a::2 dev eth0 metric 1024 pref medium']);
    expect(await reaches('a', 'b', 6)).toBe(true);
    expect((await c.http('a', 10268, '/healthz')).status).toBe(200);
    expect((await c.http('a', 10269, '/metrics')).body).toMatch(/^kpr_network_reconcile_errors_total [1-9]/m);
  });
});
