// Scale benchmark of `kpr network` (the built executable, VXLAN backend) in a node
// namespace, fed N peer Nodes (IPv4 + IPv6 pod CIDRs) by the embedded API server:
//  (a) the first reconcile (the agent's own figure: kernel read, plan, diff, apply) and
//      the time from process start to it,
//  (b) one Node change (a peer's pod CIDRs replaced) to the kernel: the agent's reconcile
//      and the time from the API write to the agent's log line,
//  (c) the agent's RSS and peak RSS (VmHWM) from /proc after the changes, and its RSS once
//      settled (--settle seconds later: V8 gives back the heap the initial list and the
//      first reconcile grew only after some idle time),
//  (d) the floor: a bare `ip -batch` + `bridge -batch` of the same routes, neighbours and
//      FDB entries (read back from the agent's kernel) into a fresh namespace holding the
//      same VXLAN devices, timed in the same run; (a) as a ratio of it.
// Usage: node --import tsx bench/network-agent.ts [--sizes 1000,5000] [--changes 9] [--settle 20] [--kpr PATH[,PATH]] [--out FILE]
// --kpr: the executables to compare (default dist/bin/kpr), each size measured for each in turn.
// (after `npm run build`, Node 24 on the PATH, as root)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startApiServer } from '../apiserver/server.ts';
import { KPR_BIN, KprProcess, type LogLine } from '../lab/kpr-process.ts';
import { forwardIntoNamespace } from '../lab/ns-forward.ts';
import { NamespaceSet, type Netns } from '../lab/netns.ts';
import { peerNode, SELF_NODE, SELF_UNDERLAY } from '../test/support/network-peers.ts';
import { median, timeCommand } from './measure.ts';

const RT_PROTO = 107;
const DEVICES = ['kpr-vxlan4', 'kpr-vxlan6'];

interface Result {
  kpr: string;
  nodes: number;
  entries: number;
  firstReconcileMs: number;
  startToReconciledMs: number;
  floorMs: number;
  ratioToFloor: number;
  changeReconcileMs: number;
  changeEndToEndMs: number;
  rssMB: number;
  peakMB: number;
  settledMB: number;
}

const reconciled = (l: LogLine) => l.msg === 'reconciled';

async function vmKB(ns: Netns, pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = (await ns.exec('cat', [`/proc/${pid}/status`])).stdout;
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
}

/** The agent's entries as the batch lines that would create them from scratch. */
async function entriesAsBatch(ns: Netns): Promise<{ ip: string[]; bridge: string[] }> {
  const json = async (args: string[]) => JSON.parse((await ns.exec(args[0] as string, ['-j', ...args.slice(1)])).stdout) as Record<string, string>[];
  const ip: string[] = [];
  for (const family of ['-4', '-6']) {
    for (const r of await json(['ip', family, 'route', 'show', 'proto', String(RT_PROTO)])) {
      ip.push(`route add ${r.dst} via ${r.gateway} dev ${r.dev} onlink proto ${RT_PROTO}`);
    }
  }
  for (const dev of DEVICES) {
    for (const n of await json(['ip', 'neigh', 'show', 'dev', dev, 'nud', 'permanent'])) ip.push(`neigh add ${n.dst} lladdr ${n.lladdr} dev ${dev} nud permanent`);
  }
  const bridge: string[] = [];
  for (const dev of DEVICES) {
    for (const f of await json(['bridge', 'fdb', 'show', 'dev', dev])) if (f.dst) bridge.push(`fdb add ${f.mac} dev ${dev} dst ${f.dst}`);
  }
  return { ip, bridge };
}

/** The agent's VXLAN devices, recreated with the same parameters in another namespace. */
async function copyDevices(from: Netns, to: Netns): Promise<void> {
  await to.ipBatch(SELF_UNDERLAY);
  const links = JSON.parse((await from.exec('ip', ['-d', '-j', 'link', 'show', 'type', 'vxlan'])).stdout) as { ifname: string; address: string; linkinfo: { info_data: Record<string, unknown> } }[];
  const addrs = JSON.parse((await from.exec('ip', ['-j', 'addr', 'show', 'type', 'vxlan'])).stdout) as { ifname: string; addr_info: { local: string; prefixlen: number; scope: string }[] }[];
  const lines: string[] = [];
  for (const l of links) {
    const d = l.linkinfo.info_data;
    const local = String(d.local ?? d.local6 ?? '');
    lines.push(`link add ${l.ifname} address ${l.address} type vxlan id ${String(d.id)} dstport ${String(d.port)} local ${local} dev eth0 nolearning`, `link set ${l.ifname} up`);
    for (const a of (addrs.find((x) => x.ifname === l.ifname)?.addr_info ?? []).filter((x) => x.scope !== 'link')) lines.push(`addr add ${a.local}/${a.prefixlen} dev ${l.ifname}`);
  }
  await to.ipBatch(lines);
}

async function measure(set: NamespaceSet, kpr: string, n: number, changes: number, settleS: number, dir: string): Promise<Result> {
  const node = await set.create('netb');
  await node.ipBatch(SELF_UNDERLAY);
  const api = await startApiServer({ objects: [SELF_NODE, ...Array.from({ length: n }, (_, i) => peerNode(i))] });
  const forward = await forwardIntoNamespace(node, { host: '127.0.0.1', port: api.port }, api.port);
  const kubeconfig = join(dir, `kubeconfig-${n}`);
  writeFileSync(kubeconfig, api.kubeconfigYaml());
  const agent = new KprProcess(node, ['--kubeconfig', kubeconfig, '--hostname-override', 'self', '--node-file', join(dir, `node-${n}.json`), '--healthz-bind-address', '', '--metrics-bind-address', ''], (ns, args) => ['ip', 'netns', 'exec', ns.name, kpr, 'network', ...args]);
  try {
    const t0 = performance.now();
    agent.start();
    const first = await agent.waitForLog(reconciled, 300_000, true);
    const startToReconciledMs = performance.now() - t0;
    // Let the agent's own annotation patch come back and settle before timing changes.
    await new Promise((r) => setTimeout(r, 500));

    const changeReconcile: number[] = [];
    const changeEndToEnd: number[] = [];
    for (let k = 0; k < changes; k++) {
      const t = performance.now();
      const next = agent.waitForLog((l) => reconciled(l) && Number(l.changes) > 0, 30_000);
      api.apply(peerNode(k, 1 + (k % 2)));
      const line = await next;
      changeEndToEnd.push(performance.now() - t);
      changeReconcile.push(Number(line.durationMs));
    }
    const pid = agent.pid ?? 0;
    const [rss, peak] = [await vmKB(node, pid, 'VmRSS'), await vmKB(node, pid, 'VmHWM')];
    await new Promise((r) => setTimeout(r, settleS * 1000));
    const settled = await vmKB(node, pid, 'VmRSS');

    const batch = await entriesAsBatch(node);
    const floorNs = await set.create('netf');
    await copyDevices(node, floorNs);
    const ipMs = await timeCommand('ip', ['-n', floorNs.name, '-batch', '-'], `${batch.ip.join('\n')}\n`);
    const bridgeMs = await timeCommand('ip', ['netns', 'exec', floorNs.name, 'bridge', '-batch', '-'], `${batch.bridge.join('\n')}\n`);
    const floorMs = ipMs + bridgeMs;
    const firstReconcileMs = Number(first.durationMs);
    return {
      kpr, nodes: n, entries: batch.ip.length + batch.bridge.length, firstReconcileMs, startToReconciledMs, floorMs,
      ratioToFloor: firstReconcileMs / floorMs, changeReconcileMs: median(changeReconcile), changeEndToEndMs: median(changeEndToEnd),
      rssMB: rss / 1024, peakMB: peak / 1024, settledMB: settled / 1024,
    };
  } finally {
    await agent.kill();
    await forward.stop();
    await api.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sizes: { type: 'string', default: '1000,5000' }, changes: { type: 'string', default: '9' }, settle: { type: 'string', default: '20' }, kpr: { type: 'string', default: KPR_BIN }, out: { type: 'string' } } });
  const sizes = values.sizes.split(',').map(Number);
  const set = new NamespaceSet();
  const dir = mkdtempSync(join(tmpdir(), 'kpr-bench-network-'));
  const results: Result[] = [];
  try {
    for (const n of sizes) for (const kpr of values.kpr.split(',')) results.push(await measure(set, kpr, n, Number(values.changes), Number(values.settle), dir));
  } finally {
    await set.destroyAll();
    rmSync(dir, { recursive: true, force: true });
  }
  const f = (x: number, d = 0) => x.toFixed(d);
  process.stdout.write(`load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
  process.stdout.write(`${'kpr'.padEnd(30)} ${'nodes'.padEnd(6)} ${'entries'.padStart(7)} ${'first reconcile'.padStart(15)} ${'floor'.padStart(8)} ${'ratio'.padStart(5)} ${'start->done'.padStart(11)} ${'change'.padStart(7)} ${'change e2e'.padStart(10)} ${'RSS MB'.padStart(6)} ${'peak MB'.padStart(7)} ${'settled MB'.padStart(10)}\n`);
  for (const r of results) {
    process.stdout.write(`${r.kpr.padEnd(30)} ${String(r.nodes).padEnd(6)} ${String(r.entries).padStart(7)} ${`${f(r.firstReconcileMs)}ms`.padStart(15)} ${`${f(r.floorMs)}ms`.padStart(8)} ${f(r.ratioToFloor, 2).padStart(5)} ${`${f(r.startToReconciledMs)}ms`.padStart(11)} ${`${f(r.changeReconcileMs)}ms`.padStart(7)} ${`${f(r.changeEndToEndMs)}ms`.padStart(10)} ${f(r.rssMB).padStart(6)} ${f(r.peakMB).padStart(7)} ${f(r.settledMB).padStart(10)}\n`);
  }
  if (values.out) writeFileSync(values.out, JSON.stringify(results, null, 2));
}

await main();
