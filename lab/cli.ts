// `kpr lab`: a single-node cluster in network namespaces, routed by `kpr proxy` (with
// --nodes N, the multi-node lab of multinode-cli.ts instead). It
// starts the embedded API server, a node namespace running the proxy, server pods, a
// client pod and external hosts, creates example Services, sends traffic, prints where
// each request landed, shows a change being followed, and tears everything down (also
// on Ctrl-C). It is the flow-table cluster of the tests, shown to a person.
import type { ProxyMode } from '../proxy/backend.ts';
import { Cluster } from './cluster.ts';
import { slices } from './objects.ts';
import { observe, sourceAddress } from './observe.ts';
import { FLOWS, type Flow } from './flow-table.ts';
import { mainMultiNode, MULTINODE_USAGE } from './multinode-cli.ts';
import { runLab, untilInterrupted } from './session.ts';

const USAGE = `usage: kpr lab [--proxy-mode iptables|nftables|ipvs] [--keep] [--ipv6]
Builds a one-node cluster in network namespaces (needs root), routes its Services with
kpr proxy, and prints where requests land. --keep leaves it running until Ctrl-C.

${MULTINODE_USAGE}`;

/** The flows the lab shows, one per behaviour. */
const SHOWN = [
  'pod to ClusterIP reaches every endpoint',
  'pod to ClusterIP over UDP',
  'node to ClusterIP is masqueraded',
  'Service without endpoints is rejected (TCP)',
  'NodePort from outside, Cluster policy',
  'NodePort from outside, Local policy: local endpoint',
  'NodePort from outside, Local policy, no local endpoint',
  'externalIP from outside',
  'LoadBalancer IP from an allowed source',
  'LoadBalancer IP from a source outside loadBalancerSourceRanges',
  'ClientIP affinity keeps one backend',
  'serving terminating endpoints are the fallback',
  'hairpin',
  'zone hints keep traffic in the node zone',
];

async function describeFlow(c: Cluster, flow: Flow): Promise<string> {
  const obs = await observe(c.topo, flow, 12);
  const dest = `${flow.proto} ${flow.to.ip.includes(':') ? `[${flow.to.ip}]` : flow.to.ip}:${flow.to.port}`;
  const head = `${flow.from.padEnd(10)} -> ${dest.padEnd(26)}`;
  if (obs.failure) return `${head} ${obs.failure.replace(/^probe 1 failed: /, '').replace('ECONNREFUSED', 'refused (REJECT)').replace('timeout', 'no answer (DROP)')}`;
  const landed = [...obs.backends.entries()].sort().map(([b, n]) => `${b}×${n}`).join(' ');
  const src = sourceAddress(flow.from, flow.family);
  const seen = [...obs.peers];
  const masq = seen.every((p) => p === src) ? 'client address kept' : `seen as ${seen.join(',')}`;
  return `${head} ${landed.padEnd(18)} ${masq}`;
}

async function show(c: Cluster, family: 4 | 6): Promise<void> {
  for (const name of SHOWN) {
    const flow = FLOWS.find((f) => f.name.startsWith(name) && f.family === family);
    if (!flow) continue;
    process.stdout.write(`  ${(await describeFlow(c, flow)).padEnd(90)} # ${flow.name.replace(/ \(IPv\d\)$/, '')}\n`);
  }
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('kpr lab: needs root (it creates network namespaces)\n');
    return 1;
  }
  if (argv.some((a) => a === '--nodes' || a.startsWith('--nodes='))) return mainMultiNode(argv);
  const modeArg = argv.find((a) => a.startsWith('--proxy-mode'))?.split('=')[1] ?? argv[argv.indexOf('--proxy-mode') + 1];
  const mode = (argv.some((a) => a.startsWith('--proxy-mode')) ? modeArg : 'iptables') as ProxyMode;
  if (!['iptables', 'nftables', 'ipvs'].includes(mode)) {
    process.stderr.write(`kpr lab: --proxy-mode must be iptables, nftables or ipvs, got "${mode}"\n`);
    return 2;
  }
  process.stdout.write(`kpr lab: building a one-node cluster (proxy mode ${mode})...\n`);
  return runLab(() => Cluster.create(mode), async (cluster) => {
    const t = cluster.topo;
    process.stdout.write(
      `node namespace ${t.node.name}; pods s1 s2 (this node), r1 r2 (node-b), client; external hosts ext, extAllowed\n` +
        `\nwhere requests land (12 tries each):\n`,
    );
    await show(cluster, 4);
    if (argv.includes('--ipv6')) {
      process.stdout.write('\nIPv6:\n');
      await show(cluster, 6);
    }
    process.stdout.write('\nscaling Service web down to s2 only...\n');
    const web = [{ port: 80, targetPort: 8080 }, { name: 'dns', port: 53, protocol: 'UDP' as const, targetPort: 5353 }];
    const started = Date.now();
    for (const s of slices('web', web, ['s2'])) cluster.api.apply(s);
    const flow = FLOWS.find((f) => f.name.startsWith('pod to ClusterIP reaches') && f.family === 4) as Flow;
    for (;;) {
      const obs = await observe(t, flow, 4);
      if (!obs.failure && [...obs.backends.keys()].every((b) => b === 's2')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    process.stdout.write(`  followed in ${Date.now() - started} ms:\n  ${await describeFlow(cluster, flow)}\n`);
    if (argv.includes('--keep')) {
      process.stdout.write(`\nrunning; look around with e.g. "ip netns exec ${t.node.name} iptables-save". Ctrl-C ends it.\n`);
      await untilInterrupted();
    }
  });
}
