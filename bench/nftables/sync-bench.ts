// nftables mode at scale, on the real kernel inside a throwaway node namespace, with
// N Services x E endpoints built directly as ProxySnapshots. Each size runs in a FRESH
// child process (so sizes don't inflate each other's RSS or warm each other's JIT):
//  (a) first full sync, (d) a bare `nft -f` of the same ruleset (the floor) and the ratio,
//  (b) one endpoint change reaching the kernel (median of 5), (c) RSS after the syncs and peak RSS,
//  (f) a periodic full sync on the existing table, and RSS after it,
//  (e) first-packet latency: median TCP connect to the last-created ClusterIP vs a table with one Service.
// Every size is measured --runs times (the machine is shared); the table shows medians.
// Usage: node --import tsx bench/nftables/sync-bench.ts [--sizes 100x10,1000x10,10000x10,5000x50]
//          [--runs 3] [--latency 10000x10|none] [--cpu-prof DIR] [--out /tmp/kpr-nft-bench.json]
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { run } from '../../lib/exec.ts';
import { median } from '../measure.ts';
import { Agent } from '../../lab/agent/client.ts';
import { NamespaceSet, uniqueToken, vethPair, type Netns } from '../../lab/netns.ts';
import type { Endpoint, ProxySnapshot, ServicePort } from '../../proxy/model/types.ts';
import { endpoint, rulesConfig, servicePort, snapshot } from '../../test/support/proxy-model.ts';
import { NftablesProxier } from '../../proxy/nftables/proxier.ts';
import { renderRuleset } from '../../proxy/nftables/ruleset.ts';

const PROBE_IP = '10.244.0.2';
const SERVICE_CIDRS = ['10.96.0.0/12'];
const config = rulesConfig({ nodePortIPs: [], serviceCIDRs: SERVICE_CIDRS });
const ms = (x: number) => Math.round(x * 10) / 10;
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

function quad(n: number): string {
  return `${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

/** n Services x e endpoints, plus the probe Service (created last) whose one endpoint really answers. */
function services(n: number, e: number): [ServicePort, Endpoint[]][] {
  const out: [ServicePort, Endpoint[]][] = [];
  for (let i = 0; i < n; i++) {
    const sp = servicePort('bench', `svc-${i}`, { clusterIP: `10.96.${(i >> 8) & 255}.${i & 255}` });
    out.push([sp, Array.from({ length: e }, (_, k) => endpoint(`10.${quad(i * e + k + 1)}`))]);
  }
  out.push([servicePort('bench', 'probe', { clusterIP: '10.97.255.254' }), [endpoint(PROBE_IP)]]);
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
  endpointChangeMs: number; rssMB: number; peakRssMB: number; resyncMs: number; resyncRssMB: number;
}

/** One size, in this (fresh) process: the node namespace already exists. */
async function measure(netns: string, n: number, e: number): Promise<Row> {
  const nft = ['ip', 'netns', 'exec', netns, 'nft'];
  const proxier = new NftablesProxier({ family: 4, command: nft });
  const entries = services(n, e);
  const snap: ProxySnapshot = snapshot(entries);
  let t0 = performance.now();
  const first = await proxier.sync({ snapshot: snap, config, changed: undefined });
  const firstSyncMs = performance.now() - t0;

  // One endpoint of one Service replaced, five times, each a partial sync.
  const changes: number[] = [];
  const [sp, eps] = entries[Math.floor(n / 2)] as [ServicePort, Endpoint[]];
  const endpoints = snap.endpoints as Map<string, readonly Endpoint[]>;
  const original = endpoints.get(sp.key) as readonly Endpoint[];
  for (let r = 1; r <= 5; r++) {
    endpoints.set(sp.key, [endpoint(`10.250.0.${r}`), ...eps.slice(1)]);
    t0 = performance.now();
    await proxier.sync({ snapshot: snap, config, changed: new Set([sp.key]) });
    changes.push(performance.now() - t0);
  }
  const rssMB = mb(process.memoryUsage().rss);
  const peakRssMB = Math.round(process.resourceUsage().maxRSS / 1024);

  // A periodic full sync on the table now there (names listed, every element rewritten).
  t0 = performance.now();
  await proxier.sync({ snapshot: snap, config, changed: undefined });
  const resyncMs = performance.now() - t0;
  const resyncRssMB = mb(process.memoryUsage().rss);

  // The floor: the first sync's ruleset (what a full sync writes into an empty kernel)
  // loaded by a bare nft -f into an empty table, nft started the way kpr starts it.
  endpoints.set(sp.key, original);
  const ruleset = renderRuleset(snap, config);
  await proxier.cleanup();
  t0 = performance.now();
  await run(nft[0] as string, [...nft.slice(1), '-f', '-'], { input: ruleset });
  const bareNftMs = performance.now() - t0;
  await proxier.cleanup();
  return {
    services: n, endpoints: e, firstSyncMs: ms(firstSyncMs), bareNftMs: ms(bareNftMs), ratio: Math.round((firstSyncMs / bareNftMs) * 100) / 100,
    operations: first.operations, endpointChangeMs: ms(median(changes)), rssMB, peakRssMB, resyncMs: ms(resyncMs), resyncRssMB,
  };
}

const ROW_MARK = 'ROW ';

/** Runs `measure` for one size in a child process and returns its row. */
function measureInChild(netns: string, size: string, profDir: string | undefined): Promise<Row> {
  const args = [...process.execArgv, ...(profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []),
    fileURLToPath(import.meta.url), '--child', size, '--netns', netns];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith(ROW_MARK));
      if (code !== 0 || !line) reject(new Error(`child for ${size} exited ${code}: ${out}`));
      else resolve(JSON.parse(line.slice(ROW_MARK.length)) as Row);
    });
  });
}

async function latency(env: Env, n: number, e: number): Promise<{ services: number; medianMs: number; singleServiceMs: number; ratio: number }> {
  const nft = ['ip', 'netns', 'exec', env.node.name, 'nft'];
  const proxier = new NftablesProxier({ family: 4, command: nft });
  await proxier.sync({ snapshot: snapshot(services(0, e)), config, changed: undefined });
  await connectMedian(env, 5); // warm up the agents
  const single = await connectMedian(env, 41);
  await proxier.cleanup();
  await proxier.sync({ snapshot: snapshot(services(n, e)), config, changed: undefined });
  const big = await connectMedian(env, 41);
  await proxier.cleanup();
  return { services: n, medianMs: ms(big), singleServiceMs: ms(single), ratio: ms(big / single) };
}

function medianRow(rows: Row[]): Row {
  const first = rows[0] as Row;
  const m = (f: (r: Row) => number) => median(rows.map(f));
  return {
    services: first.services, endpoints: first.endpoints, firstSyncMs: m((r) => r.firstSyncMs), bareNftMs: m((r) => r.bareNftMs),
    ratio: m((r) => r.ratio), operations: first.operations, endpointChangeMs: m((r) => r.endpointChangeMs),
    rssMB: m((r) => r.rssMB), peakRssMB: m((r) => r.peakRssMB), resyncMs: m((r) => r.resyncMs), resyncRssMB: m((r) => r.resyncRssMB),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '100x10,1000x10,10000x10,5000x50' },
      runs: { type: 'string', default: '3' },
      latency: { type: 'string', default: '10000x10' },
      'cpu-prof': { type: 'string' },
      out: { type: 'string', default: '/tmp/kpr-nft-bench.json' },
      child: { type: 'string' },
      netns: { type: 'string' },
    },
  });
  const parse = (s: string) => s.split('x').map(Number) as [number, number];
  if (values.child && values.netns) {
    console.log(`${ROW_MARK}${JSON.stringify(await measure(values.netns, ...parse(values.child)))}`);
    return;
  }
  const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
  const loadBefore = load();
  const env = await environment();
  try {
    const sizes = values.sizes.split(',');
    const raw: Row[][] = sizes.map(() => []);
    // Sizes interleaved across runs, so that a burst of load hits one run of each, not all runs of one.
    for (let r = 0; r < Number(values.runs); r++) {
      for (const [i, size] of sizes.entries()) {
        const row = await measureInChild(env.node.name, size, values['cpu-prof']);
        (raw[i] as Row[]).push(row);
        console.log(JSON.stringify(row));
      }
    }
    const rows = raw.map(medianRow);
    const lat = values.latency === 'none' ? undefined : await latency(env, ...parse(values.latency));
    console.log(`load average before: ${loadBefore}; after: ${load()}`);
    console.table(rows);
    if (lat) console.table([{ mode: 'nftables', ...lat }]);
    const kernel = (await run('uname', ['-r'])).stdout.trim();
    writeFileSync(values.out, `${JSON.stringify({ kernel, load: { before: loadBefore, after: load() }, sync: rows, raw, firstPacket: lat }, null, 2)}\n`);
  } finally {
    env.client.stop();
    env.server.stop();
    await env.set.destroyAll();
  }
}

await main();
