// IPVS mode: Service names in the inspect view, `--stats` counters and `kpr explain`
// against the real probes of every flow-table row, with the same core as the commands
// (the listings read in the node namespace as proxy/inspect/collect.ts reads them).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { IpvsProxier } from '../../proxy/ipvs/proxier.ts';
import { namesFile, parseNames } from '../../proxy/ipvs/names.ts';
import { inspect, type Listings } from '../../proxy/inspect/inspect.ts';
import { parseConntrackList, withStats } from '../../proxy/inspect/stats.ts';
import { parseIpvsStats, withIpvsCounters } from '../../proxy/inspect/ipvs-stats.ts';
import { explain } from '../../proxy/explain/explain.ts';
import type { View } from '../../proxy/inspect/model.ts';
import { newState, program } from '../support/flows-fixture.ts';
import { explainAgainstProbes, originOf } from '../support/explain-flows.ts';
import { sourceAddress } from '../../lab/observe.ts';
import { FLOWS, OBJECTS } from '../../lab/flow-table.ts';
import { PODS, Topology } from '../../lab/topology.ts';
import { assert, assertEqual, note, test } from './runner.ts';

test('inspect names, --stats and explain against the probes (IPVS)', async () => {
  const topo = await Topology.create();
  const dir = mkdtempSync(join(tmpdir(), 'kpr-names-'));
  try {
    await topo.startServers({ tcp: [8080], udp: [5353] });
    const backends = ([4, 6] as const).map((family) => new IpvsProxier({ family, netns: topo.node.name, namesFile: namesFile(dir, family) }));
    await program(newState(), backends, OBJECTS, true);
    const ns = topo.node;
    const text = async (cmd: string, args: string[]) => (await ns.exec(cmd, args)).stdout;
    const listings: Listings = {
      families: { 4: { iptablesSave: await text('iptables-save', []) }, 6: { iptablesSave: await text('ip6tables-save', []) } },
      ipvsadm: await text('ipvsadm', ['-S', '-n']),
      ipset: await text('ipset', ['save']),
      ipvsNames: { 4: parseNames(readFileSync(namesFile(dir, 4), 'utf8'), 'v4'), 6: parseNames(readFileSync(namesFile(dir, 6), 'utf8'), 'v6') },
      problems: [],
    };
    const views = new Map(inspect(listings, 'ipvs', [4, 6]).views.map((v) => [v.family, v] as [4 | 6, View]));
    for (const v of views.values()) {
      const unnamed = v.frontends.filter((f) => !f.service).map((f) => `${f.address}:${f.port}`);
      assertEqual(unnamed, [], `IPv${v.family} frontends without a Service name`);
    }
    assertEqual(views.get(4)?.frontends.find((f) => f.address === '10.96.0.10' && f.protocol === 'tcp')?.service, 'flows/web:p', 'name of 10.96.0.10:80');

    // --stats: connections held open, each answered by its backend. (IPVS drops the
    // conntrack entry of a connection closed by a reset 10 s after its CLOSE state, so
    // closed probes are not what an exact count can use here.)
    const client = topo.agent(topo.pods.client);
    const held = await Promise.all(Array.from({ length: 6 }, () => client.call({ op: 'hold', host: '10.96.0.10', port: 80, timeoutMs: 5000 })));
    assert(held.every((h) => h.ok), `held connections: ${JSON.stringify(held)}`);
    const heldBy = new Map<string, number>();
    for (const h of held) {
      const pod = (h.reply ?? '').split(' ')[0] ?? '';
      heldBy.set(pod, (heldBy.get(pod) ?? 0) + 1);
    }
    await sleep(3000); // the kernel sums IPVS's per-CPU counters every 2 s (its rate estimator)
    const counted = withIpvsCounters(
      withStats(views.get(4) as View, parseConntrackList(await text('conntrack', ['-L', '-f', 'ipv4', '-o', 'id']))),
      parseIpvsStats(await text('ipvsadm', ['-L', '-n', '--stats', '--exact'])),
    );
    const f = counted.frontends.find((x) => x.address === '10.96.0.10' && x.protocol === 'tcp' && x.port === 80);
    const problems: string[] = [];
    if (f?.stats?.active !== 6) problems.push(`active connections on 10.96.0.10:80: expected 6, got ${JSON.stringify(f?.stats)}`);
    const podOf = new Map<string, string>(Object.entries(PODS).map(([n, p]) => [p.ip4, n]));
    const perBackend = Object.fromEntries((f?.backends ?? []).filter((b) => b.stats?.active).map((b) => [podOf.get(b.address) ?? b.address, b.stats?.active]));
    const want = Object.fromEntries([...heldBy].sort(([a], [b]) => (a < b ? -1 : 1)));
    const got = Object.fromEntries(Object.entries(perBackend).sort(([a], [b]) => (a < b ? -1 : 1)));
    if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`active per backend: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
    // IPVS's packet counters: every connection's handshake and greeting at least, and the real servers add up to their virtual server.
    const packets = (f?.backends ?? []).map((b) => b.stats?.packets ?? 0);
    if (!((f?.stats?.packets ?? 0) >= 6 * 4)) problems.push(`IPVS packets on 10.96.0.10:80: ${JSON.stringify(f?.stats)}`);
    if (packets.reduce((a, b) => a + b, 0) !== f?.stats?.packets) problems.push(`IPVS packets of the real servers ${JSON.stringify(packets)} do not add up to ${f?.stats?.packets}`);

    const local = new Set((JSON.parse(await text('ip', ['-j', 'addr', 'show'])) as { addr_info?: { local: string }[] }[]).flatMap((l) => (l.addr_info ?? []).map((a) => a.local)));
    const failures = await explainAgainstProbes(topo, FLOWS, 'ipvs', async (flow) =>
      explain(views.get(flow.family) as View, { protocol: flow.proto, src: sourceAddress(flow.from, flow.family), dst: flow.to.ip, port: flow.to.port, from: originOf(flow.from) }, local), 1); // one at a time: the emulated VM has one slow CPU
    if (failures.length) note(failures.join('\n'));
    if (problems.length) note(problems.join('\n'));
    assert(failures.length === 0 && problems.length === 0, `${failures.length} flows differ from kpr explain; ${problems.length} counter problems`);
    for (const b of backends) await b.cleanup();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await topo.destroy();
  }
});
