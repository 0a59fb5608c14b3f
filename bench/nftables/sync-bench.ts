// nftables mode at scale, on the real kernel inside a throwaway node namespace, with
// N Services x E endpoints built directly as ProxySnapshots:
//  (a) first full sync, (d) a bare `nft -f` of the same ruleset (the floor) and the ratio,
//  (b) one endpoint change reaching the kernel, (c) RSS,
//  (e) first-packet latency: median TCP connect to the last-created ClusterIP vs a table with one Service.
// Usage: node --import tsx bench/nftables/sync-bench.ts [--sizes 100x10,1000x10,10000x10,5000x50] [--latency 10000x10] [--out /tmp/kpr-nft-bench.json]
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { run } from '../../lib/exec.ts';
import { Agent } from '../../test/harness/agent-client.ts';
import { NamespaceSet, uniqueToken, vethPair, type Netns } from '../../test/harness/netns.ts';
import type { Endpoint, ProxySnapshot, ServicePort } from '../../proxy/model/types.ts';
import { endpoint, rulesConfig, servicePort, snapshot } from '../../proxy/nftables/fixtures.ts';
import { NftablesProxier } from '../../proxy/nftables/proxier.ts';

const PROBE_IP = '10.244.0.2';
const config = rulesConfig({ nodePortIPs: [] });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const ms = (x: number) => Math.round(x * 10) / 10;

function quad(n: number): string {
  return `${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

/** n Services x e endpoints, plus the probe Service (created last) whose one endpoint really answers. */
function services(n: number, e: number): [ServicePort, Endpoint[]][] {
  const out: [ServicePort, Endpoint[]][] = [];
  for (let i = 0; i < n; i++) {
    const sp = servicePort('bench', `svc-${i}`, { clusterIP: `10.96.${(i >> 8) & 255}.${i & 255}` });
    out.push([sp, Array.from({ length: e }, (_, k) => endpoint(`10.${quad(i * e + k + 1)}`, 8080))]);
  }
  out.push([servicePort('bench', 'probe', { clusterIP: '10.97.255.254' }), [endpoint(PROBE_IP, 8080)]]);
  return out;
}

interface Env { node: Netns; client: Agent; server: Agent; set: NamespaceSet }

async function environment(): Promise<Env> {
  const set = new NamespaceSet();
  const node = await set.create('bnode');
  const pods = await set.create('bpods');
  const t = uniqueToken();
  await vethPair(node, `bn${t}`, pods, `bp${t}`);
  await node.ip(['addr', 'add', '10.244.0.1/24', 'dev', `bn${t}`]);
  await node.ip(['route', 'add', '10.96.0.0/12', 'dev', `bn${t}`]);
  await pods.ip(['addr', 'add', `${PROBE_IP}/24`, 'dev', `bp${t}`]);
  await pods.ip(['route', 'add', 'default', 'via', '10.244.0.1']);
  const server = new Agent(pods);
  await server.listen('tcp', 8080, 'probe');
  return { node, client: new Agent(node), server, set };
}

async function connectMedian(env: Env, count: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const r = await env.client.call({ op: 'probe', proto: 'tcp', host: '10.97.255.254', port: 80, timeoutMs: 2000 });
    if (!r.ok) throw new Error(`probe failed: ${r.error}`);
    times.push(performance.now() - t0);
  }
  return median(times);
}

interface Row {
  services: number; endpoints: number;
  firstSyncMs: number; bareNftMs: number; ratio: number; operations: number;
  endpointChangeMs: number; rssMB: number;
}

async function measure(env: Env, n: number, e: number): Promise<Row> {
  let lastInput = '';
  const nft = ['ip', 'netns', 'exec', env.node.name, 'nft'];
  const proxier = new NftablesProxier({
    family: 4, serviceCIDRs: ['10.96.0.0/12'], command: nft,
    runner: (cmd, args, opts) => { if (opts.input) lastInput = opts.input; return run(cmd, args, opts); },
  });
  const entries = services(n, e);
  const snap: ProxySnapshot = snapshot(4, entries);
  let t0 = performance.now();
  const first = await proxier.sync({ snapshot: snap, config, changed: undefined });
  const firstSyncMs = performance.now() - t0;
  const ruleset = lastInput;

  // One endpoint of one Service replaced, five times, each a partial sync.
  const changes: number[] = [];
  const [sp, eps] = entries[Math.floor(n / 2)] as [ServicePort, Endpoint[]];
  const endpoints = snap.endpoints as Map<string, readonly Endpoint[]>;
  for (let r = 1; r <= 5; r++) {
    endpoints.set(sp.key, [endpoint(`10.250.0.${r}`, 8080), ...eps.slice(1)]);
    t0 = performance.now();
    await proxier.sync({ snapshot: snap, config, changed: new Set([sp.key]) });
    changes.push(performance.now() - t0);
  }
  const rssMB = Math.round(process.memoryUsage().rss / 2 ** 20);

  // The floor: the same first-sync ruleset loaded by a bare nft -f into an empty table.
  await proxier.cleanup();
  t0 = performance.now();
  await run(nft[0] as string, [...nft.slice(1), '-f', '-'], { input: ruleset });
  const bareNftMs = performance.now() - t0;
  await proxier.cleanup();
  return {
    services: n, endpoints: e, firstSyncMs: ms(firstSyncMs), bareNftMs: ms(bareNftMs), ratio: ms(firstSyncMs / bareNftMs),
    operations: first.operations, endpointChangeMs: ms(median(changes)), rssMB,
  };
}

async function latency(env: Env, n: number, e: number): Promise<{ services: number; medianMs: number; singleServiceMs: number; ratio: number }> {
  const nft = ['ip', 'netns', 'exec', env.node.name, 'nft'];
  const proxier = new NftablesProxier({ family: 4, command: nft });
  await proxier.sync({ snapshot: snapshot(4, services(0, e)), config, changed: undefined });
  await connectMedian(env, 5); // warm up the agents
  const single = await connectMedian(env, 41);
  await proxier.cleanup();
  await proxier.sync({ snapshot: snapshot(4, services(n, e)), config, changed: undefined });
  const big = await connectMedian(env, 41);
  await proxier.cleanup();
  return { services: n, medianMs: ms(big), singleServiceMs: ms(single), ratio: ms(big / single) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '100x10,1000x10,10000x10,5000x50' },
      latency: { type: 'string', default: '10000x10' },
      out: { type: 'string', default: '/tmp/kpr-nft-bench.json' },
    },
  });
  const parse = (s: string) => s.split('x').map(Number) as [number, number];
  const env = await environment();
  try {
    const rows: Row[] = [];
    for (const size of values.sizes.split(',')) {
      const row = await measure(env, ...parse(size));
      rows.push(row);
      console.log(JSON.stringify(row));
    }
    const lat = await latency(env, ...parse(values.latency));
    console.table(rows);
    console.table([{ mode: 'nftables', ...lat }]);
    writeFileSync(values.out, `${JSON.stringify({ kernel: (await run('uname', ['-r'])).stdout.trim(), sync: rows, firstPacket: lat }, null, 2)}\n`);
  } finally {
    env.client.stop();
    env.server.stop();
    await env.set.destroyAll();
  }
}

await main();
