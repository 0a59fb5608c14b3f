// kpr network's VXLAN backend with real packets: three nodes, two on one L2 segment and
// one behind a router, a pod per node, the built agent in each node namespace.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KPR_BIN } from '../lab/kpr-process.ts';
import { Agent } from '../lab/agent/client.ts';
import { kprTables, NetworkCluster, nodeIP, OUTSIDE4, OUTSIDE6, podIP } from '../lab/network-cluster.ts';

let c: NetworkCluster;

beforeAll(async () => {
  c = await NetworkCluster.create();
  await c.startAll();
  await c.waitPeers(2);
  for (const name of ['a', 'b', 'c']) {
    const n = c.node(name);
    // The pod's MTU is what the node file says, as kpr-cni would set it.
    await n.pod.ip(['link', 'set', 'eth0', 'mtu', String(c.readNodeFile(name).mtu)]);
    await n.podAgent.listen('tcp', 8080, `pod-${name}`);
    await n.podAgent.listen('udp', 8081, `pod-${name}`);
  }
  await c.outsideAgent.listen('tcp', 80, 'outside');
}, 120_000);

afterAll(async () => {
  await c?.destroy();
});

const probe = (from: string, proto: 'tcp' | 'udp', host: string, payload?: string) =>
  c.node(from).podAgent.call({ op: 'probe', proto, host, port: proto === 'tcp' ? 8080 : 8081, timeoutMs: 3000, ...(payload && { payload }) });

describe('kpr network --backend vxlan', () => {
  it('writes the node file (pod CIDRs, MTU less 50 over IPv4, 70 over IPv6) and answers /healthz', async () => {
    // Both families ride their own underlay here: the IPv6 device over IPv6 costs 70 bytes.
    expect(c.readNodeFile('a')).toEqual({ podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], mtu: 1430, backend: 'vxlan' });
    expect((await c.http('a', 10268, '/healthz')).status).toBe(200);
    const metrics = (await c.http('a', 10269, '/metrics')).body;
    expect(metrics).toMatch(/^kpr_network_peers 2$/m);
    expect(metrics).toMatch(/^kpr_network_entries\{kind="fdb",ip_family="IPv4"\} 2$/m);
    expect(metrics).toMatch(/^kpr_network_reconcile_duration_seconds_count [1-9]/m);
  });

  it('gives each family a device addressed with the pod CIDR network address and publishes its MAC on the Node', async () => {
    const a = c.node('a');
    for (const [dev, address, annotation] of [['kpr-vxlan4', '10.244.1.0/32', 'kpr.io/vxlan-vtep-mac'], ['kpr-vxlan6', 'fd00:10:244:1::/128', 'kpr.io/vxlan6-vtep-mac']] as const) {
      const link = JSON.parse((await a.ns.exec('ip', ['-d', '-j', 'addr', 'show', 'dev', dev])).stdout)[0];
      expect(link.linkinfo.info_data).toMatchObject({ id: 1, port: 8472, learning: false });
      expect(link.addr_info.filter((x: { scope: string }) => x.scope === 'global').map((x: { local: string; prefixlen: number }) => `${x.local}/${x.prefixlen}`)).toEqual([address]);
      expect(c.annotations('a')[annotation]).toBe(link.address);
    }
    expect(JSON.parse((await a.ns.exec('ip', ['-j', '-d', 'link', 'show', 'dev', 'kpr-vxlan4'])).stdout)[0].mtu).toBe(1450);
  });

  it('routes exactly the peers\' pod CIDRs with kpr\'s protocol, via their VTEPs (onlink), with permanent neighbours and FDB entries', async () => {
    const a = c.node('a');
    const routes = JSON.parse((await a.ns.exec('ip', ['-j', '-4', 'route', 'show', 'proto', '107'])).stdout) as { dst: string; gateway: string; dev: string; flags: string[] }[];
    expect(routes.map((r) => `${r.dst} ${r.gateway} ${r.dev} ${r.flags.join()}`).sort()).toEqual([
      '10.244.2.0/24 10.244.2.0 kpr-vxlan4 onlink', '10.244.3.0/24 10.244.3.0 kpr-vxlan4 onlink',
    ]);
    const routes6 = JSON.parse((await a.ns.exec('ip', ['-j', '-6', 'route', 'show', 'proto', '107'])).stdout) as { dst: string }[];
    expect(routes6.map((r) => r.dst).sort()).toEqual(['fd00:10:244:2::/64', 'fd00:10:244:3::/64']);
    const macC = c.annotations('c')['kpr.io/vxlan-vtep-mac'];
    expect((await a.ns.exec('ip', ['neigh', 'show', 'dev', 'kpr-vxlan4', 'nud', 'permanent'])).stdout).toContain(`10.244.3.0 lladdr ${macC} PERMANENT`);
    expect((await a.ns.exec('bridge', ['fdb', 'show', 'dev', 'kpr-vxlan4'])).stdout).toContain(`${macC} dst 192.168.20.3 self permanent`);
  });

  it('carries pod-to-pod TCP and UDP, IPv4 and IPv6, with the pod source kept, on the segment and across the routed hop', async () => {
    for (const [from, to] of [['a', 'b'], ['a', 'c'], ['c', 'b']] as const) {
      const src = c.node(from).spec;
      const dst = c.node(to).spec;
      for (const family of [4, 6] as const) {
        const host = podIP(family === 4 ? dst.pod4 : dst.pod6);
        const me = podIP(family === 4 ? src.pod4 : src.pod6);
        for (const proto of ['tcp', 'udp'] as const) {
          const r = await probe(from, proto, host);
          expect(r, `${from} -> ${to} ${proto} IPv${family}`).toMatchObject({ ok: true, reply: `pod-${to} ${me}` });
        }
      }
    }
  });

  it('masquerades pod traffic to the outside to the node address', async () => {
    const a = c.node('a');
    for (const [host, family] of [[OUTSIDE4, 4], [OUTSIDE6, 6]] as const) {
      const r = await a.podAgent.call({ op: 'probe', proto: 'tcp', host, port: 80, timeoutMs: 3000 });
      expect(r).toMatchObject({ ok: true, reply: `outside ${nodeIP(a.spec, family)}` });
    }
  });

  it('takes a 1,400-byte UDP datagram and a 1 MB TCP transfer across the routed hop', async () => {
    const r = await probe('a', 'udp', podIP(c.node('c').spec.pod4), 'x'.repeat(1400));
    expect(r).toMatchObject({ ok: true, reply: `pod-c ${podIP(c.node('a').spec.pod4)}` });
    const r6 = await probe('a', 'udp', podIP(c.node('c').spec.pod6), 'x'.repeat(1400));
    expect(r6).toMatchObject({ ok: true });

    const src = join(c.dir, 'src.bin');
    const dst = join(c.dir, 'dst.bin');
    const data = randomBytes(1 << 20);
    writeFileSync(src, data);
    const server = spawn('ip', ['netns', 'exec', c.node('c').pod.name, 'socat', '-u', 'TCP-LISTEN:9000,reuseaddr', `CREATE:${dst}`]);
    const done = new Promise<number | null>((resolve) => server.on('exit', resolve));
    await c.node('c').pod.exec('sh', ['-c', 'for i in $(seq 50); do ss -Hltn sport = :9000 | grep -q . && exit 0; sleep 0.1; done; exit 1']);
    await c.node('a').pod.exec('socat', ['-u', `FILE:${src}`, `TCP:${podIP(c.node('c').spec.pod4)}:9000`]);
    expect(await done).toBe(0);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(sha(readFileSync(dst))).toBe(sha(data));
  });

  it('kpr-cni with only `nodeFile` gives a pod an address from the node\'s pod CIDRs and the node file\'s MTU, and it reaches other nodes\' pods', async () => {
    const b = c.node('b');
    const pod = await c.set.create('cni');
    const conf = { cniVersion: '1.1.0', name: 'kpt-net', type: 'kpr-cni', mode: 'routed', nodeFile: b.nodeFile, ipam: { type: 'kpr-ipam', dataDir: join(c.dir, 'ipam') } };
    const result = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const env = { PATH: process.env.PATH ?? '', CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'nodefile1', CNI_NETNS: pod.path, CNI_IFNAME: 'eth0', CNI_PATH: join(KPR_BIN, '..') };
      const p = spawn('ip', ['netns', 'exec', b.ns.name, `${KPR_BIN}-cni`], { env });
      let out = '';
      p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      p.stderr.on('data', (d: Buffer) => { out += d.toString(); });
      p.on('close', (code) => resolve({ code, out }));
      p.stdin.end(JSON.stringify(conf));
    });
    expect(result.code, result.out).toBe(0);
    const ips = (JSON.parse(result.out) as { ips: { address: string }[] }).ips.map((x) => x.address);
    expect(ips).toEqual(['10.244.2.2/32', 'fd00:10:244:2::2/128']);
    const link = JSON.parse((await pod.exec('ip', ['-j', 'link', 'show', 'dev', 'eth0'])).stdout)[0] as { mtu: number };
    expect(link.mtu).toBe(c.readNodeFile('b').mtu);
    const agent = new Agent(pod);
    try {
      await agent.listen('tcp', 8080, 'cni-pod');
      for (const host of ['10.244.2.2', 'fd00:10:244:2::2']) {
        const r = await c.node('c').podAgent.call({ op: 'probe', proto: 'tcp', host, port: 8080, timeoutMs: 3000 });
        expect(r).toMatchObject({ ok: true, reply: `cni-pod ${podIP(host.includes(':') ? c.node('c').spec.pod6 : c.node('c').spec.pod4)}` });
      }
    } finally {
      agent.stop();
    }
  });

  it('restarted after kill -9, keeps established TCP and leaves the tables exactly as they were', async () => {
    const a = c.node('a');
    const held = await a.podAgent.call({ op: 'hold', host: podIP(c.node('c').spec.pod4), port: 8080, timeoutMs: 3000 });
    expect(held.ok).toBe(true);
    const before = await kprTables(a.ns);
    await a.agent?.kill('SIGKILL');
    // The node file must be there before /healthz first answers 200.
    rmSync(a.nodeFile);
    const again = await c.startAgent('a', ['--iface', 'eth0'], false);
    for (let i = 0; ; i++) {
      if ((await c.http('a', 10268, '/healthz')).status === 200) break;
      if (i > 400) throw new Error('no 200 from /healthz within 20 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(c.readNodeFile('a').mtu).toBe(1430);
    await again.waitForLog((l) => l.msg === 'reconciled', 5000, true);
    const first = again.logs.find((l) => l.msg === 'reconciled');
    expect(first).toMatchObject({ changes: 0, peers: 2 });
    expect(await kprTables(a.ns)).toBe(before);
    expect(await a.podAgent.call({ op: 'send', handle: held.handle as number, data: 'still there?' })).toMatchObject({ ok: true });
  });

  it('follows a Node added and deleted on the other nodes within a second', async () => {
    const spec = { name: 'd', v4: '192.168.10.4/24', v6: 'fd00:a::4/64', pod4: '10.244.4.0/24', pod6: 'fd00:10:244:4::/64' };
    const mac = '02:00:00:00:00:04';
    const { nodeObject } = await import('../lab/network-cluster.ts');
    const obj = nodeObject(spec) as { metadata: Record<string, unknown> };
    obj.metadata.annotations = { 'kpr.io/vxlan-vtep-mac': mac };
    // `ip monitor` in each node reports the route's arrival and removal as it happens, without polling load.
    const monitors = ['a', 'b', 'c'].map((n) => {
      const p = spawn('ip', ['-n', c.node(n).ns.name, 'monitor', 'route']);
      const seen: { added?: number; deleted?: number } = {};
      createInterface({ input: p.stdout }).on('line', (line) => {
        if (!line.includes('10.244.4.0/24')) return;
        if (line.startsWith('Deleted')) seen.deleted ??= Date.now();
        else seen.added ??= Date.now();
      });
      return { p, seen };
    });
    const waitAll = async (key: 'added' | 'deleted') => {
      for (let i = 0; monitors.some((m) => m.seen[key] === undefined); i++) {
        if (i > 100) throw new Error(`route ${key} not seen on every node within 5 s`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return Math.max(...monitors.map((m) => m.seen[key] as number));
    };
    try {
      await new Promise((r) => setTimeout(r, 200)); // the monitors are listening
      const t0 = Date.now();
      c.api.create(obj);
      const added = (await waitAll('added')) - t0;
      const t1 = Date.now();
      c.api.remove('Node', undefined, 'd');
      const deleted = (await waitAll('deleted')) - t1;
      process.stderr.write(`Node d followed on all three nodes: added in ${added} ms, deleted in ${deleted} ms\n`);
      expect(added).toBeLessThan(1000);
      expect(deleted).toBeLessThan(1000);
    } finally {
      for (const m of monitors) m.p.kill();
    }
    // The FDB entry goes in the bridge batch that follows the ip batch removing the route.
    const entries = async () => (await c.node('c').ns.exec('bridge', ['fdb', 'show', 'dev', 'kpr-vxlan4'])).stdout + (await c.node('c').ns.exec('ip', ['neigh', 'show', 'nud', 'permanent'])).stdout;
    const stale = (text: string) => text.includes(mac) || text.includes('10.244.4.0');
    for (let i = 0; i < 40 && stale(await entries()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await entries()).not.toContain(mac);
    expect(await entries()).not.toContain('10.244.4.0');
  });

  it('replaces the entries of a peer whose pod CIDR changed', async () => {
    const node = c.api.get('Node', undefined, 'c');
    c.api.apply({ ...node, spec: { podCIDR: '10.244.30.0/24', podCIDRs: ['10.244.30.0/24', 'fd00:10:244:30::/64'] } });
    const a = c.node('a');
    const routes4 = async () => (await a.ns.exec('ip', ['-4', 'route', 'show', 'proto', '107'])).stdout;
    for (let i = 0; !(await routes4()).includes('10.244.30.0/24'); i++) {
      if (i > 100) throw new Error('the new pod CIDR was not routed within 5 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    const routes = await routes4();
    expect(routes).toContain('10.244.30.0/24 via 10.244.30.0 dev kpr-vxlan4 onlink');
    expect(routes).not.toContain('10.244.3.0/24');
    const neigh = (await a.ns.exec('ip', ['neigh', 'show', 'dev', 'kpr-vxlan4', 'nud', 'permanent'])).stdout;
    expect(neigh).toContain('10.244.30.0 lladdr');
    expect(neigh).not.toContain('10.244.3.0 ');
    expect((await a.ns.exec('ip', ['-6', 'route', 'show', 'proto', '107'])).stdout).toContain('fd00:10:244:30::/64');
    // The masquerade sets followed by element (no --cluster-cidr: every Node's pod CIDRs keep the pod source).
    const set = async (name: string) => (await a.ns.exec('nft', ['list', 'set', 'inet', 'kpr-network', name])).stdout;
    // The stale element's delete may still be running when the routes are in (the reconcile does not wait for it).
    for (let i = 0; /\b10\.244\.3\.0\b/.test(await set('nodes4_24')); i++) {
      if (i > 20) throw new Error('the old pod CIDR stayed in the masquerade set for 1 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await set('nodes4_24')).toMatch(/\b10\.244\.30\.0\b/);
    expect(await set('nodes4_24')).not.toMatch(/\b10\.244\.3\.0\b/);
    expect(await set('nodes4_24')).toMatch(/\b10\.244\.1\.0\b/);
    expect(await set('nodes6_64')).toContain('fd00:10:244:30::');
    expect(await set('nodes6_64')).not.toMatch(/fd00:10:244:3::[^0-9a-f]/);
  });
});
