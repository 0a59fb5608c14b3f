// End-to-end scale benchmark of `kpr proxy` (the built executable) in a node namespace,
// fed N Services x E endpoints by the embedded API server through client-node informers:
//  (a) time from process start to the first complete sync,
//  (b) one EndpointSlice change -> rules in the kernel (the proxy's "synced" log line),
//  (c) the proxy's memory, read from its /proc status: RSS once the changes are in (steady),
//      VmHWM (the peak RSS, reached by the initial list and the first sync), the V8 heap in
//      use; and the idle proxy's RSS (an API server with no Services at all),
//  (d) the floor: a bare iptables-restore / nft -f of the same final ruleset into an empty
//      namespace, timed in the same run, and the proxy's own full sync as a ratio of it;
//      for iptables also kube-proxy's way of applying (b) (rewriting all of KUBE-SERVICES)
//      and a bare restore of only the changed chains (the floor of (b)),
//  (e) first-packet latency: median TCP connect to the last-created ClusterIP at the
//      largest size against the same with a single Service.
// Usage: npm run bench -- [--modes iptables,nftables] [--sizes 100x10,1000x10,10000x10] [--changes 7] [--kpr PATH[,PATH]] [--out FILE]
// --kpr: the executables to compare (default dist/bin/kpr), each size measured for each in turn.
import { writeFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startApiServer } from '../apiserver/server.ts';
import type { ProxyMode } from '../proxy/backend.ts';
import { forwardIntoNamespace } from '../lab/ns-forward.ts';
import { NamespaceSet } from '../lab/netns.ts';
import { NODE_OBJECT } from '../lab/cluster.ts';
import { NS, service, slices, type Obj } from '../lab/objects.ts';
import { KPR_BIN, KprProcess, isSync, type LogLine } from '../lab/kpr-process.ts';
import { CLUSTER_CIDRS, NODE_NAME, PODS, Topology } from '../lab/topology.ts';
import { median, timeCommand } from './measure.ts';

const PROBE_IP = '10.99.255.254';
const API_PORT = 16443;

const quad = (n: number) => `${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
const clusterIP = (i: number) => `10.100.${(i >> 8) & 255}.${i & 255}`;

/** N Services with E (unreachable) endpoints each, then the probe Service, created last and sorted last (the worst place in iptables' linear KUBE-SERVICES), whose endpoint is pod s1. */
function objects(n: number, e: number, probe: boolean): Obj[] {
  const out: Obj[] = [NODE_OBJECT as Obj];
  const port = [{ port: 80, targetPort: 8080 }];
  for (let i = 0; i < n; i++) {
    out.push(service({ name: `svc-${i}`, clusterIP: clusterIP(i), ports: port }));
    const [slice] = slices(`svc-${i}`, port, [], [4]);
    if (!slice) continue;
    (slice as unknown as { endpoints: unknown[] }).endpoints = Array.from({ length: e }, (_, k) => ({ addresses: [`10.${128 + ((i * e + k) >> 16)}.${quad(i * e + k).split('.').slice(1).join('.')}`], nodeName: 'node-b', conditions: { ready: true } }));
    out.push(slice);
  }
  if (probe) out.push(service({ name: 'zz-probe', clusterIP: PROBE_IP, ports: port }), ...slices('zz-probe', port, ['s1'], [4]));
  return out;
}

interface Result {
  /** The executable measured. */
  kpr: string;
  mode: ProxyMode;
  services: number;
  endpoints: number;
  firstSyncMs: number;
  proxierFullSyncMs: number;
  floorMs: number;
  ratioToFloor: number;
  changeMedianMs: number;
  changeAllMs: number[];
  kubeProxyWayMs?: number;
  restoreFloorMs?: number;
  /** RSS once the first sync and the changes are done. */
  rssMB: number;
  /** VmHWM: the highest RSS since the process started. */
  peakMB: number;
  /** The RSS's anonymous memory (heap, malloc) and its pages of files (the executable, shared with every kpr process). */
  anonMB: number;
  fileMB: number;
  heapMB: number;
  /** No Services at all: only the idle figures are meaningful. */
  idle?: boolean;
  connectMedianUs?: number;
}

const syncLine = (l: LogLine) => isSync(l) && l.family === 'IPv4';

async function dumpRuleset(topo: Topology, mode: ProxyMode): Promise<string> {
  if (mode === 'nftables') return (await topo.node.exec('nft', ['list', 'table', 'ip', 'kpr'])).stdout;
  return (await topo.node.exec('iptables-save', [])).stdout;
}

/** A bare restore of the same ruleset into a new, empty namespace. */
async function floor(mode: ProxyMode, ruleset: string): Promise<number> {
  const set = new NamespaceSet();
  try {
    const ns = await set.create('floor');
    // The rules count into upstream's nfacct objects, which must exist (the proxy creates them).
    for (const name of new Set([...ruleset.matchAll(/--nfacct-name\s+(\S+)/g)].map((m) => m[1] ?? ''))) await ns.exec('nfacct', ['add', name]);
    const [cmd, args] = mode === 'nftables' ? ['nft', ['-f', '-']] : ['iptables-restore', ['-w', '5']];
    return await timeCommand('ip', ['netns', 'exec', ns.name, cmd, ...(args as string[])], ruleset);
  } finally {
    await set.destroyAll();
  }
}

/**
 * Two baselines for one endpoint change in iptables mode, on the loaded kernel: kube-proxy's
 * partial sync (all of nat KUBE-SERVICES rewritten, plus the changed Service's chains) and
 * the floor, a bare restore of just that Service's chains (what kpr sends, minus kpr).
 */
async function iptablesChangeBaselines(topo: Topology, svcIndex: number): Promise<{ kubeProxyWayMs: number; restoreFloorMs: number }> {
  const nat = (await topo.node.exec('iptables-save', ['-t', 'nat'])).stdout.split('\n');
  const services = nat.filter((l) => l.startsWith('-A KUBE-SERVICES '));
  const svcChain = /-j (KUBE-SVC-\S+)/.exec(services.find((l) => l.includes(`${NS}/svc-${svcIndex}:p cluster IP`)) ?? '')?.[1] ?? '';
  const sepChains = nat.filter((l) => l.startsWith(`-A ${svcChain} `)).map((l) => /-j (KUBE-SEP-\S+)/.exec(l)?.[1]).filter((c): c is string => !!c);
  const own = [svcChain, ...sepChains];
  const ownRules = nat.filter((l) => own.some((c) => l.startsWith(`-A ${c} `)));
  const restore = (text: string[]) =>
    timeCommand('ip', ['netns', 'exec', topo.node.name, 'iptables-restore', '--noflush', '-w', '5'], [...text, ''].join('\n'));
  return {
    kubeProxyWayMs: await restore(['*nat', ':KUBE-SERVICES - [0:0]', ...own.map((c) => `:${c} - [0:0]`), ...services, ...ownRules, 'COMMIT']),
    restoreFloorMs: await restore(['*nat', ...own.map((c) => `:${c} - [0:0]`), ...ownRules, 'COMMIT']),
  };
}

async function connectMedian(topo: Topology, count: number): Promise<number> {
  const r = await topo.agent(topo.pods.client).call({ op: 'connectTimes', host: PROBE_IP, port: 80, count });
  if (!r.ok) throw new Error(`connect to the probe Service failed: ${r.error}`);
  return median((r.reply ?? '').split(',').map(Number));
}

/** RSS, VmHWM and the RSS's anonymous and file parts (MB) from the proxy's /proc status. */
function memoryOf(pid: number | undefined): { rssMB: number; peakMB: number; anonMB: number; fileMB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const MB = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024;
  return { rssMB: MB('VmRSS'), peakMB: MB('VmHWM'), anonMB: MB('RssAnon'), fileMB: MB('RssFile') };
}

/** How long the idle proxy runs after its first sync before its memory is read. */
const IDLE_SETTLE_MS = 5000;

async function measure(kpr: string, mode: ProxyMode, n: number, e: number, opts: { changes: number; latency: boolean; idle?: boolean }): Promise<Result> {
  const topo = await Topology.create();
  const dir = mkdtempSync(join(tmpdir(), 'kpr-bench-'));
  const api = await startApiServer({ objects: objects(n, e, !opts.idle) });
  const forward = await forwardIntoNamespace(topo.node, { host: '127.0.0.1', port: api.port }, API_PORT);
  let proxy: KprProcess | undefined;
  try {
    await topo.startServers({ tcp: [8080], udp: [] });
    const kubeconfig = join(dir, 'kubeconfig');
    await api.writeKubeconfig(kubeconfig);
    proxy = new KprProcess(topo.node, [
      `--proxy-mode=${mode}`, `--kubeconfig=${kubeconfig}`, `--master=http://127.0.0.1:${API_PORT}`, `--hostname-override=${NODE_NAME}`,
      `--cluster-cidr=${CLUSTER_CIDRS.join(',')}`, '--iptables-min-sync-period=0s', '--healthz-bind-address=', '--metrics-bind-address=127.0.0.1:10249',
    ], (ns, args) => ['ip', 'netns', 'exec', ns.name, kpr, 'proxy', ...args]);
    // The executable's pages as on a node that has just pulled the image: a file fresh from
    // the build (postject) maps more of itself (RssFile 60-68 MB against ~50 MB read back).
    await timeCommand('dd', [`if=${kpr}`, 'iflag=nocache', 'count=0', 'status=none'], '');
    const started = Date.now();
    const first = proxy.waitForLog(syncLine, 600_000);
    proxy.start();
    const firstLine = await first;
    const firstSyncMs = Number(firstLine.time) - started;
    const proxierFullSyncMs = Number(firstLine.ms);

    const changes: number[] = [];
    let baselines: { kubeProxyWayMs: number; restoreFloorMs: number } | undefined;
    const port = [{ port: 80, targetPort: 8080 }];
    for (let c = 0; c < opts.changes; c++) {
      const i = Math.floor((n * (c + 1)) / (opts.changes + 1));
      const [slice] = slices(`svc-${i}`, port, [], [4]);
      if (!slice) continue;
      (slice as unknown as { endpoints: unknown[] }).endpoints = Array.from({ length: e }, (_, k) => ({ addresses: [`10.250.${c}.${k + 1}`], nodeName: 'node-b', conditions: { ready: true } }));
      const synced = proxy.waitForLog((l) => syncLine(l) && l.full === false, 60_000);
      const t0 = Date.now();
      api.apply(slice);
      changes.push(Number((await synced).time) - t0);
      if (mode === 'iptables' && c === 0) baselines = await iptablesChangeBaselines(topo, i);
    }
    if (opts.idle) await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
    const memory = memoryOf(proxy.pid);
    // The V8 heap in use, from the proxy's own process metrics: how much of the RSS is live data.
    const metrics = await topo.agent(topo.node).call({ op: 'httpGet', url: 'http://127.0.0.1:10249/metrics', timeoutMs: 5000 });
    const heapMB = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics.reply ?? '')?.[1] ?? NaN) / 1e6;
    const floorMs = opts.idle ? NaN : await floor(mode, await dumpRuleset(topo, mode));
    return {
      kpr, mode, services: n, endpoints: e, firstSyncMs, proxierFullSyncMs, floorMs, ratioToFloor: proxierFullSyncMs / floorMs,
      changeMedianMs: median(changes), changeAllMs: changes, ...baselines, ...memory, heapMB, idle: opts.idle,
      connectMedianUs: opts.latency ? await connectMedian(topo, 300) : undefined,
    };
  } finally {
    await proxy?.kill();
    await forward.stop();
    await api.close();
    await topo.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      modes: { type: 'string', default: 'iptables,nftables' },
      sizes: { type: 'string', default: '100x10,1000x10,10000x10' },
      changes: { type: 'string', default: '7' },
      kpr: { type: 'string', default: KPR_BIN },
      out: { type: 'string', default: join(tmpdir(), 'kpr-proxy-sync-bench.json') },
    },
  });
  const sizes = values.sizes.split(',').map((s) => s.split('x').map(Number) as [number, number]);
  // First-packet latency is measured where the Services are most numerous (the cost
  // that grows with the number of Services is the lookup of the destination).
  const largest = sizes.reduce((a, b) => (a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1]) ? a : b));
  const kprs = values.kpr.split(',');
  const results: Result[] = [];
  for (const mode of values.modes.split(',') as ProxyMode[]) {
    for (const kpr of kprs) {
      const idle = await measure(kpr, mode, 0, 0, { changes: 0, latency: false, idle: true });
      results.push(idle);
      process.stderr.write(`${mode} idle: ${JSON.stringify(idle)}\n`);
      // The latency floor: the same cluster with a single Service.
      results.push(await measure(kpr, mode, 0, 1, { changes: 0, latency: true }));
    }
    // Each size for each executable in turn: a comparison within minutes of load.
    for (const [n, e] of sizes) {
      for (const kpr of kprs) {
        const r = await measure(kpr, mode, n, e, { changes: Number(values.changes), latency: n === largest[0] && e === largest[1] });
        results.push(r);
        process.stderr.write(`${mode} ${n}x${e}: ${JSON.stringify(r)}\n`);
      }
    }
  }
  const f = (x: number | undefined, d = 0) => (x === undefined ? '-' : x.toFixed(d));
  const kprWidth = Math.max(3, ...kprs.map((k) => k.length));
  process.stdout.write(
    `${'kpr'.padEnd(kprWidth)} ${'mode'.padEnd(9)} ${'svc x ep'.padEnd(10)} ${'first sync'.padStart(10)} ${'full sync'.padStart(9)} ${'floor'.padStart(7)} ${'ratio'.padStart(5)} ${'change'.padStart(7)} ${'kube-proxy way'.padStart(14)} ${'change floor'.padStart(13)} ${'RSS MB'.padStart(7)} ${'anon'.padStart(5)} ${'file'.padStart(5)} ${'peak MB'.padStart(7)} ${'heap MB'.padStart(7)} ${'connect us'.padStart(10)}\n`,
  );
  for (const r of results) {
    const singleLatency = results.find((x) => x.kpr === r.kpr && x.mode === r.mode && x.services === 0 && !x.idle)?.connectMedianUs;
    const latency = r.connectMedianUs === undefined ? '-' : r.services === 0 ? `${f(r.connectMedianUs)}` : `${f(r.connectMedianUs)} (${f(r.connectMedianUs / (singleLatency ?? NaN), 2)}x)`;
    process.stdout.write(
      `${r.kpr.padEnd(kprWidth)} ${r.mode.padEnd(9)} ${(r.idle ? 'idle' : `${r.services + 1}x${r.endpoints}`).padEnd(10)} ${`${f(r.firstSyncMs)}ms`.padStart(10)} ${`${f(r.proxierFullSyncMs)}ms`.padStart(9)} ${`${f(r.floorMs)}ms`.padStart(7)} ${f(r.ratioToFloor, 2).padStart(5)} ${`${f(r.changeMedianMs)}ms`.padStart(7)} ${(r.kubeProxyWayMs === undefined ? '-' : `${f(r.kubeProxyWayMs)}ms (${f(r.kubeProxyWayMs / r.changeMedianMs, 1)}x)`).padStart(14)} ${(r.restoreFloorMs === undefined ? '-' : `${f(r.restoreFloorMs)}ms`).padStart(13)} ${f(r.rssMB).padStart(7)} ${f(r.anonMB).padStart(5)} ${f(r.fileMB).padStart(5)} ${f(r.peakMB).padStart(7)} ${f(r.heapMB).padStart(7)} ${latency.padStart(10)}\n`,
    );
  }
  writeFileSync(values.out, JSON.stringify(results, null, 2));
  process.stdout.write(`results: ${values.out}\n`);
}

await main();
