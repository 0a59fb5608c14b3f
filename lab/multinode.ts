// The multi-node lab: lab/network-cluster.ts's nodes, each running `kpr network` and
// `kpr proxy`, with one pod per node made by a real `kpr-cni` ADD (routed mode, configured
// only by the node file), and Services whose endpoints span nodes in the API server.
// `kpr lab --nodes N` and lab/multinode.kernel.test.ts run it.
import { spawn } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { parseIpAddrJSON } from '../lib/ip-addr.ts';
import type { ProxyMode } from '../proxy/backend.ts';
import { Agent } from './agent/client.ts';
import { KPR_BIN, KprProcess, isSync } from './kpr-process.ts';
import type { Netns } from './netns.ts';
import { NetworkCluster } from './network-cluster.ts';
import { service, type Obj, type PortSpec } from './objects.ts';

/** How pods of different nodes reach each other: `kpr network`'s backends, and VXLAN with direct routing. */
export type NetworkBackend = 'vxlan' | 'host-gw' | 'vxlan-direct';
export const NETWORK_BACKENDS: Record<NetworkBackend, string[]> = {
  vxlan: ['--backend', 'vxlan'],
  'host-gw': ['--backend', 'host-gw'],
  'vxlan-direct': ['--backend', 'vxlan', '--direct-routing'],
};

export const LAB_NS = 'lab';
export const CLUSTER_CIDRS = '10.244.0.0/16,fd00:10:244::/48';
export const POD_TCP = 8080;
export const POD_UDP = 5353;
export const OUTSIDE_TCP = 80;

export interface LabPod {
  /** `pod-<node>`: what its servers answer. */
  name: string;
  node: string;
  ns: Netns;
  agent: Agent;
  ip4: string;
  ip6: string;
}

/** The lab's Services: names, addresses, ports, and which nodes' pods are their endpoints. */
export interface LabService {
  name: string;
  clusterIP: string;
  clusterIP6: string;
  type: 'ClusterIP' | 'NodePort';
  nodePort?: number;
  local?: boolean;
  endpointNodes: string[];
}

/** The roles flows are written in: the first node, the second, the last (behind the router). */
export function roles(nodes: readonly string[]): { first: string; second: string; last: string } {
  return { first: nodes[0] as string, second: nodes[1] as string, last: nodes[nodes.length - 1] as string };
}

export function labServices(nodes: readonly string[]): LabService[] {
  const { first, second, last } = roles(nodes);
  return [
    // From the first node's pod every endpoint is on another node.
    { name: 'spread', clusterIP: '10.96.1.10', clusterIP6: 'fd00:96::1:10', type: 'ClusterIP', endpointNodes: nodes.filter((n) => n !== first) },
    { name: 'np', clusterIP: '10.96.1.20', clusterIP6: 'fd00:96::1:20', type: 'NodePort', nodePort: 30080, endpointNodes: [last] },
    // Local policy: an endpoint on the first node, none on the second.
    {
      name: 'nplocal', clusterIP: '10.96.1.30', clusterIP6: 'fd00:96::1:30', type: 'NodePort', nodePort: 30081, local: true,
      endpointNodes: [first, last].filter((n, i, all) => n !== second && all.indexOf(n) === i),
    },
  ];
}

function ports(s: LabService): PortSpec[] {
  return [
    { name: 'http', port: 80, targetPort: POD_TCP, ...(s.nodePort ? { nodePort: s.nodePort } : {}) },
    ...(s.type === 'ClusterIP' ? [{ name: 'dns', port: 53, protocol: 'UDP' as const, targetPort: POD_UDP }] : []),
  ];
}

/** The Service and its two EndpointSlices (one per family) as API objects. */
export function serviceObjects(s: LabService, pods: ReadonlyMap<string, LabPod>): Obj[] {
  const svc = service({ name: s.name, clusterIP: s.clusterIP, clusterIP6: s.clusterIP6, type: s.type, ports: ports(s), ...(s.local ? { externalTrafficPolicy: 'Local' as const } : {}) });
  svc.metadata.namespace = LAB_NS;
  const slices = ([4, 6] as const).map((family) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: LAB_NS, name: `${s.name}-v${family}`, labels: { 'kubernetes.io/service-name': s.name } },
    addressType: family === 4 ? 'IPv4' : 'IPv6',
    ports: ports(s).map((p) => ({ name: p.name, port: p.targetPort, protocol: p.protocol ?? 'TCP' })),
    endpoints: s.endpointNodes.map((node) => {
      const pod = pods.get(node);
      if (!pod) throw new Error(`Service ${s.name}: no pod on node ${node}`);
      return { addresses: [family === 4 ? pod.ip4 : pod.ip6], nodeName: node, conditions: { ready: true, serving: true, terminating: false } };
    }),
  }));
  return [svc, ...slices];
}

export interface MultiNodeOptions {
  nodes?: number;
  backend?: NetworkBackend;
}

export class MultiNodeCluster {
  /** Pods by node name. */
  readonly pods = new Map<string, LabPod>();
  readonly proxies = new Map<string, KprProcess>();
  private readonly nodeAgents = new Map<string, Agent>();
  mode: ProxyMode | undefined;

  private constructor(readonly net: NetworkCluster, readonly backend: NetworkBackend) {}

  get nodeNames(): string[] {
    return this.net.specs.map((s) => s.name);
  }

  static async create(opts: MultiNodeOptions = {}): Promise<MultiNodeCluster> {
    const backend = opts.backend ?? 'vxlan';
    const net = await NetworkCluster.create({ nodes: opts.nodes ?? 3, routerRoutesPods: backend === 'host-gw' });
    const c = new MultiNodeCluster(net, backend);
    try {
      await net.startAll(NETWORK_BACKENDS[backend]);
      // VTEP MACs reach the peers one round later; host-gw needs none (and counts the peer behind the router out).
      if (backend !== 'host-gw') await net.waitPeers(net.specs.length - 1);
      // Pods are made one at a time: each ADD is a process start, and the machine may be small.
      for (const name of c.nodeNames) c.pods.set(name, await c.addPod(name));
      await c.outsideListens();
      for (const s of labServices(c.nodeNames)) for (const o of serviceObjects(s, c.pods)) net.api.apply(o);
    } catch (err) {
      await c.destroy();
      throw err;
    }
    return c;
  }

  pod(node: string): LabPod {
    const p = this.pods.get(node);
    if (!p) throw new Error(`no pod on node ${node}`);
    return p;
  }

  /** A pod on `node` from a real `kpr-cni` ADD: routed mode, everything else from the node file. */
  private async addPod(node: string): Promise<LabPod> {
    const n = this.net.node(node);
    const ns = await this.net.set.create(`cni${node}`);
    const conf = { cniVersion: '1.1.0', name: 'kpr', type: 'kpr-cni', mode: 'routed', nodeFile: n.nodeFile, ipam: { type: 'kpr-ipam', dataDir: join(this.net.dir, 'ipam', node) } };
    const out = await runCni(ns.path, n.ns, `lab-pod-${node}`, join(this.net.dir, 'bin'), JSON.stringify(conf));
    const ips = (JSON.parse(out) as { ips?: { address: string }[] }).ips?.map((x) => x.address.split('/')[0] ?? '') ?? [];
    const ip4 = ips.find((ip) => !ip.includes(':'));
    const ip6 = ips.find((ip) => ip.includes(':'));
    if (!ip4 || !ip6) throw new Error(`kpr-cni ADD on node ${node} gave ${ips.join(', ')}, not one address per family`);
    const agent = new Agent(ns);
    const name = `pod-${node}`;
    await agent.listen('tcp', POD_TCP, name);
    await agent.listen('udp', POD_UDP, name);
    return { name, node, ns, agent, ip4, ip6 };
  }

  /** The traffic agent in a node namespace (started on first use). */
  nodeAgent(node: string): Agent {
    let a = this.nodeAgents.get(node);
    if (!a) this.nodeAgents.set(node, (a = new Agent(this.net.node(node).ns)));
    return a;
  }

  /** Every address the node holds (underlay, VTEP, pod-side), canonical. */
  async nodeAddresses(node: string): Promise<string[]> {
    const out = await this.net.node(node).ns.exec('ip', ['-j', 'addr', 'show']);
    return parseIpAddrJSON(out.stdout).flatMap((l) => l.addresses.map((a) => a.ip));
  }

  private async outsideListens(): Promise<void> {
    await this.net.outsideAgent.listen('tcp', OUTSIDE_TCP, 'outside');
  }

  /** Starts (or restarts, in another mode) `kpr proxy` on every node and waits for each one's first sync. */
  async startProxies(mode: ProxyMode): Promise<void> {
    await this.stopProxies();
    this.mode = mode;
    await Promise.all(this.nodeNames.map(async (node) => {
      const p = new KprProcess(this.net.node(node).ns, [
        `--proxy-mode=${mode}`, `--kubeconfig=${this.net.kubeconfig}`, `--hostname-override=${node}`, `--cluster-cidr=${CLUSTER_CIDRS}`,
        '--healthz-bind-address=127.0.0.1:10256', '--metrics-bind-address=127.0.0.1:10249', '--iptables-min-sync-period=50ms',
      ]);
      this.proxies.set(node, p);
      // Families sync in order; the IPv6 line means both are in.
      const synced = p.waitForLog((l) => isSync(l) && l.family === 'IPv6', 60_000);
      p.start();
      await synced;
    }));
  }

  async stopProxies(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((p) => p.kill('SIGTERM')));
    this.proxies.clear();
  }

  async destroy(): Promise<void> {
    await this.stopProxies().catch(() => undefined);
    for (const a of [...this.pods.values()].map((p) => p.agent).concat([...this.nodeAgents.values()])) a.stop();
    await this.net.destroy();
  }
}

/**
 * Runs `kpr-cni` ADD in the node namespace as a container runtime would (CNI_* env, the
 * config on stdin); the executable is reached through a link named kpr-cni, as installed.
 */
async function runCni(netns: string, node: Netns, containerId: string, binDir: string, conf: string): Promise<string> {
  const bin = join(binDir, 'kpr-cni');
  try {
    mkdirSync(binDir, { recursive: true });
    symlinkSync(KPR_BIN, bin);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: 'ADD', CNI_CONTAINERID: containerId, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: binDir };
  return new Promise((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', node.name, bin], { env });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`kpr-cni ADD ${containerId} in ${node.name} exited ${code}: ${out}${err}`))));
    p.stdin.end(conf);
  });
}
