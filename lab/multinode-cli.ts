// `kpr lab --nodes N [--backend vxlan|host-gw] [--direct-routing]`: the multi-node lab.
// Builds lab/multinode.ts's cluster, prints where cross-node requests land (the rows of
// the multi-node flow table), and with --keep prints a kubeconfig for the lab's API
// server and keeps running: kpr network and kpr proxy on every node follow what kubectl
// changes there. Everything is removed at the end, also on Ctrl-C.
import { parseArgs } from 'node:util';
import { errorMessage } from '../lib/errors.ts';
import type { ProxyMode } from '../proxy/backend.ts';
import { bindFlow, MULTI_FLOWS, observeMulti, type MultiFlow } from './multinode-flows.ts';
import { LAB_NS, MultiNodeCluster, roles, type NetworkBackend } from './multinode.ts';
import { MAX_NODES } from './network-cluster.ts';
import { runLab, untilInterrupted } from './session.ts';

export const MULTINODE_USAGE = `usage: kpr lab --nodes N [--backend vxlan|host-gw] [--direct-routing] [--proxy-mode iptables|nftables|ipvs] [--ipv6] [--keep]
Builds N node namespaces (2-${MAX_NODES}) on an underlay, the last behind a router, each running
kpr network and kpr proxy with a pod made by kpr-cni; prints where cross-node requests land.
--keep prints a kubeconfig for the lab's API server (kubectl works with it) and runs until Ctrl-C.
`;

interface Options {
  nodes: number;
  backend: NetworkBackend;
  mode: ProxyMode;
  ipv6: boolean;
  keep: boolean;
}

/** The flags, validated; a string is the error to print. */
export function parseMultiNodeArgs(argv: string[]): Options | string {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        nodes: { type: 'string' }, backend: { type: 'string', default: 'vxlan' }, 'direct-routing': { type: 'boolean', default: false },
        'proxy-mode': { type: 'string', default: 'iptables' }, ipv6: { type: 'boolean', default: false }, keep: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return errorMessage(err);
  }
  const nodes = Number(values.nodes);
  if (!/^\d+$/.test(values.nodes ?? '') || nodes < 2 || nodes > MAX_NODES) return `--nodes must be a number from 2 to ${MAX_NODES}, got "${values.nodes ?? ''}"`;
  if (values.backend !== 'vxlan' && values.backend !== 'host-gw') return `--backend must be vxlan or host-gw, got "${values.backend}"`;
  if (values['direct-routing'] && values.backend !== 'vxlan') return '--direct-routing goes with --backend vxlan only';
  const mode = values['proxy-mode'];
  if (mode !== 'iptables' && mode !== 'nftables' && mode !== 'ipvs') return `--proxy-mode must be iptables, nftables or ipvs, got "${mode}"`;
  const backend: NetworkBackend = values.backend === 'host-gw' ? 'host-gw' : values['direct-routing'] ? 'vxlan-direct' : 'vxlan';
  return { nodes, backend, mode, ipv6: values.ipv6, keep: values.keep };
}

async function describeFlow(c: MultiNodeCluster, f: MultiFlow): Promise<string> {
  const b = bindFlow(c, f);
  const r = roles(c.nodeNames);
  const from = f.from === 'outside' ? 'outside' : 'pod' in f.from ? `pod-${r[f.from.pod]}` : `node ${r[f.from.node]}`;
  const dest = `${from.padEnd(9)} -> ${b.proto} ${b.host.includes(':') ? `[${b.host}]` : b.host}:${b.port}`;
  const obs = await observeMulti(b.agent, b.proto, b.host, b.port, 'blocked' in b ? 1 : 12);
  if (obs.failure) return `${dest.padEnd(45)} ${obs.failure.replace(/^probe 1 failed: /, '').replace('timeout', 'no answer (DROP)')}`;
  const landed = [...obs.backends.entries()].sort().map(([n, k]) => `${n}×${k}`).join(' ');
  const peers = [...obs.peers];
  const seen = 'client' in b && b.client && peers.every((p) => p === b.client) ? 'source kept' : `seen as ${peers.join(',')}`;
  return `${dest.padEnd(45)} ${landed.padEnd(26)} ${seen}`;
}

async function show(c: MultiNodeCluster, family: 4 | 6): Promise<void> {
  for (const f of MULTI_FLOWS.filter((x) => x.family === family)) {
    process.stdout.write(`  ${(await describeFlow(c, f)).padEnd(100)} # ${f.name.replace(/ \(IPv\d\)$/, '')}\n`);
  }
}

export async function mainMultiNode(argv: string[]): Promise<number> {
  const opts = parseMultiNodeArgs(argv);
  if (typeof opts === 'string') {
    process.stderr.write(`kpr lab: ${opts}\n${MULTINODE_USAGE}`);
    return 2;
  }
  process.stdout.write(`kpr lab: building a ${opts.nodes}-node cluster (network ${opts.backend}, proxy mode ${opts.mode})...\n`);
  return runLab(async () => {
    const cluster = await MultiNodeCluster.create({ nodes: opts.nodes, backend: opts.backend });
    try {
      await cluster.startProxies(opts.mode);
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }, async (c) => {
    const last = c.nodeNames[c.nodeNames.length - 1];
    for (const name of c.nodeNames) {
      const n = c.net.node(name);
      const pod = c.pod(name);
      process.stdout.write(`node ${name} (${n.ns.name}) ${n.spec.v4} ${n.spec.v6}${name === last ? ', behind the router' : ''}; ${pod.name} ${pod.ip4} ${pod.ip6} (kpr-cni)\n`);
    }
    process.stdout.write(`Services in namespace ${LAB_NS}: spread (ClusterIP, endpoints on every node but ${c.nodeNames[0]}), np (NodePort 30080), nplocal (NodePort 30081, Local)\n\nwhere cross-node requests land (12 tries each):\n`);
    await show(c, 4);
    if (opts.ipv6) {
      process.stdout.write('\nIPv6:\n');
      await show(c, 6);
    }
    if (opts.keep) {
      process.stdout.write(
        `\nrunning. kubeconfig of the lab's API server: ${c.net.kubeconfig}\n  e.g. kubectl --kubeconfig ${c.net.kubeconfig} get services,endpointslices,nodes -A\n` +
          `(kpr network and kpr proxy on every node follow what kubectl applies, edits and deletes). Ctrl-C ends it.\n`,
      );
      await untilInterrupted();
    }
  });
}
