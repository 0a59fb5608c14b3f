// The multi-node flow table with real packets: three nodes (a, b on one segment, c behind
// a router), `kpr network` and `kpr proxy` (the built executable) on each, pods from real
// kpr-cni ADDs, for every network backend × proxy mode testable here. One cluster per
// backend; between modes only the proxies restart (each removes the other mode's rules).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MULTI_FLOWS, runMultiFlows } from './multinode-flows.ts';
import { MultiNodeCluster, type NetworkBackend } from './multinode.ts';

const BACKENDS: NetworkBackend[] = ['vxlan', 'host-gw', 'vxlan-direct'];
const MODES = ['iptables', 'nftables'] as const;

describe.each(BACKENDS)('multi-node cluster, %s', (backend) => {
  let c: MultiNodeCluster;
  let started = 0;
  beforeAll(async () => {
    started = Date.now();
    c = await MultiNodeCluster.create({ nodes: 3, backend });
  }, 180_000);
  afterAll(async () => {
    await c?.destroy();
    process.stderr.write(`multi-node ${backend}: ${((Date.now() - started) / 1000).toFixed(1)} s for the cluster, both modes and the transfers\n`);
  });

  it('gives every pod, made by kpr-cni from the node file alone, the node file\'s MTU', async () => {
    for (const node of c.nodeNames) {
      const link = JSON.parse((await c.pod(node).ns.exec('ip', ['-j', 'link', 'show', 'dev', 'eth0'])).stdout)[0] as { mtu: number };
      expect(link.mtu, `pod on ${node}`).toBe(c.net.readNodeFile(node).mtu);
    }
    // VXLAN over the IPv6 underlay costs 70 bytes; host-gw costs nothing.
    expect(c.net.readNodeFile('a').mtu).toBe(backend === 'host-gw' ? 1500 : 1430);
  });

  it.each(MODES)('%s mode: every multi-node flow behaves as the table says', { timeout: 180_000 }, async (mode) => {
    await c.startProxies(mode);
    expect(await runMultiFlows(c, MULTI_FLOWS)).toEqual([]);
  });

  it('a 1,400-byte UDP datagram and a 1 MB TCP transfer between pods on different nodes (across the router)', async () => {
    const a = c.pod('a');
    const last = c.pod('c');
    for (const host of [last.ip4, last.ip6]) {
      const r = await a.agent.call({ op: 'probe', proto: 'udp', host, port: 5353, timeoutMs: 3000, payload: 'x'.repeat(1400) });
      expect(r, host).toMatchObject({ ok: true, reply: `${last.name} ${host.includes(':') ? a.ip6 : a.ip4}` });
    }
    for (const [host, port] of [[last.ip4, 9000], [`[${last.ip6}]`, 9001]] as const) {
      const src = join(c.net.dir, `src-${port}.bin`);
      const dst = join(c.net.dir, `dst-${port}.bin`);
      const data = randomBytes(1 << 20);
      writeFileSync(src, data);
      const server = spawn('ip', ['netns', 'exec', last.ns.name, 'socat', '-u', `TCP6-LISTEN:${port},reuseaddr,ipv6only=0`, `CREATE:${dst}`]);
      const done = new Promise<number | null>((resolve) => server.on('exit', resolve));
      await last.ns.exec('sh', ['-c', `for i in $(seq 50); do ss -Hltn sport = :${port} | grep -q . && exit 0; sleep 0.1; done; exit 1`]);
      await a.ns.exec('timeout', ['20', 'socat', '-u', `FILE:${src}`, `TCP:${host}:${port}`]);
      expect(await done).toBe(0);
      const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      expect(sha(readFileSync(dst)), `1 MB to ${host}`).toBe(sha(data));
    }
  });
});
