// Moving in from kube-proxy's iptables mode: a node namespace holding upstream's
// iptables layout for some of the cluster's Services (written as kube-proxy writes it,
// test/support/upstream-iptables.ts) serves clients in a loop while kpr starts on it;
// kpr adopts the chains in place and not one connection is refused or dropped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../lab/cluster.ts';
import { FLOWS } from '../lab/flow-table.ts';
import { runFlows } from '../lab/observe.ts';
import { isSync } from '../lab/proxy-process.ts';
import { NODE_IP, PODS, type Topology } from '../lab/topology.ts';
import type { Netns } from '../lab/netns.ts';
import { svcChain, upstreamIptables, type UpstreamService } from '../test/support/upstream-iptables.ts';

const ep = (pod: keyof typeof PODS, port: number) => `${PODS[pod].ip4}:${port}`;
/** What kube-proxy had programmed for the flow cluster's web and np Services. */
const UPSTREAM: UpstreamService[] = [
  { namespace: 'flows', name: 'web', portName: 'p', protocol: 'tcp', clusterIP: '10.96.0.10', port: 80, endpoints: [ep('s1', 8080), ep('s2', 8080), ep('r1', 8080)] },
  { namespace: 'flows', name: 'web', portName: 'dns', protocol: 'udp', clusterIP: '10.96.0.10', port: 53, endpoints: [ep('s1', 5353), ep('s2', 5353), ep('r1', 5353)] },
  { namespace: 'flows', name: 'np', portName: 'p', protocol: 'tcp', clusterIP: '10.96.0.30', port: 80, nodePort: 30080, endpoints: [ep('r1', 8080)] },
];

interface Probe { from: keyof Topology['pods'] | 'ext'; proto: 'tcp' | 'udp'; host: string; port: number }
const LOOPS: Probe[] = [
  { from: 'client', proto: 'tcp', host: '10.96.0.10', port: 80 },
  { from: 'client', proto: 'udp', host: '10.96.0.10', port: 53 },
  { from: 'ext', proto: 'tcp', host: NODE_IP.ip4, port: 30080 },
];

/** Clients connecting in a loop (a new connection each time) until stopped; every failure is kept. */
function clientLoops(topo: Topology) {
  let running = true;
  const failures: string[] = [];
  let probes = 0;
  const one = async (p: Probe) => {
    const ns: Netns = p.from === 'ext' ? topo.externals.ext : topo.pods[p.from];
    const agent = topo.agent(ns);
    while (running) {
      const r = await agent.call({ op: 'probe', proto: p.proto, host: p.host, port: p.port, timeoutMs: 1000 });
      probes++;
      if (!r.ok) failures.push(`${p.from} -> ${p.proto} ${p.host}:${p.port} at ${new Date().toISOString()}: ${r.error}`);
    }
  };
  const done = Promise.all(LOOPS.map(one));
  return {
    failures,
    get probes() { return probes; },
    async stop() { running = false; await done; },
  };
}

describe('moving in from kube-proxy in iptables mode', () => {
  let c: Cluster;
  let loops: ReturnType<typeof clientLoops> | undefined;
  let before = 0;
  beforeAll(async () => {
    c = await Cluster.create('iptables', [], {
      beforeProxy: async (topo) => {
        await topo.node.exec('iptables-restore', [], { input: upstreamIptables(UPSTREAM, '10.244.0.0/16') });
        loops = clientLoops(topo);
        // Upstream's rules serve before kpr runs.
        while (loops.probes < 30) await new Promise((r) => setTimeout(r, 20));
        before = loops.probes;
      },
    });
    // kpr has synced (create waits for it); keep the loops running a little longer.
    await new Promise((r) => setTimeout(r, 1500));
    await loops?.stop();
  }, 120_000);
  afterAll(async () => {
    await loops?.stop();
    await c?.destroy();
  });

  it('adopts the chains in place: no connection refused or dropped while kpr starts', () => {
    expect(before).toBeGreaterThanOrEqual(30);
    // The loops ran across kpr's start and first sync.
    expect(loops?.probes ?? 0).toBeGreaterThan(before + 30);
    expect(c.proxy.logs.some(isSync)).toBe(true);
    expect(loops?.failures).toEqual([]);
  });

  it('leaves none of upstream\'s chains beside its own (only kubelet\'s hint and kube-proxy\'s empty canaries, named in the README)', async () => {
    const save = (await c.topo.node.exec('iptables-save', [])).stdout;
    // kpr uses upstream's names: the Services' chains are the very same ones.
    for (const s of UPSTREAM) expect(save).toContain(`:${svcChain(s)} `);
    let table = '';
    const rules = save.split('\n').flatMap((l) => {
      if (l.startsWith('*')) table = l.slice(1);
      return l.startsWith('-A ') ? [`${table} ${l}`] : [];
    });
    // Each upstream hook is there once (kpr recognised it rather than adding its own beside it).
    for (const hook of ['nat PREROUTING KUBE-SERVICES', 'nat OUTPUT KUBE-SERVICES', 'nat POSTROUTING KUBE-POSTROUTING', 'filter FORWARD KUBE-FORWARD', 'filter OUTPUT KUBE-SERVICES']) {
      const [t, chain, target] = hook.split(' ');
      expect(rules.filter((r) => r.startsWith(`${t} -A ${chain} `) && r.endsWith(`-j ${target}`)), hook).toHaveLength(1);
    }
    const chains = save.split('\n').filter((l) => l.startsWith(':KUBE-')).map((l) => l.split(' ')[0]?.slice(1) ?? '');
    const referenced = new Set(rules.flatMap((r) => /-j (\S+)/.exec(r)?.[1] ?? []));
    const unreferenced = [...new Set(chains.filter((ch) => !referenced.has(ch)))].sort();
    expect(unreferenced).toEqual(['KUBE-IPTABLES-HINT', 'KUBE-PROXY-CANARY']);
  });

  it('then serves the whole flow table', async () => {
    expect(await runFlows(c.topo, FLOWS, 'iptables')).toEqual([]);
  });
});
