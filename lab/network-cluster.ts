// A multi-node cluster in namespaces (network/*.kernel.test.ts and the multi-node lab use
// it). All nodes but the last share one L2 segment (a bridge in a "switch" namespace), the
// last sits behind a router namespace (a routed hop), an "outside" host hangs off the router. Each node has a pod
// namespace (veth, addresses from the node's pod CIDRs, default routes via the node),
// the embedded API server holds the Nodes, and `dist/bin/kpr network` runs per node.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, type ApiServer } from '../apiserver/server.ts';
import { Agent } from './agent/client.ts';
import { forwardIntoNamespace, type Forward } from './ns-forward.ts';
import { NamespaceSet, uniqueToken, vethPair, type Netns } from './netns.ts';
import { KprProcess } from './kpr-process.ts';

export interface NodeSpec {
  name: string;
  /** Underlay addresses with prefix. */
  v4: string;
  v6: string;
  gw4: string;
  gw6: string;
  pod4: string;
  pod6: string;
}

/** The most nodes a cluster has (names a, b, ...; one /24 of 10.244.0.0/16 each). */
export const MAX_NODES = 9;

/** `n` nodes: the first n-1 on the segment (192.168.10.0/24), the last behind the router (192.168.20.0/24). */
export function nodeSpecs(n: number): NodeSpec[] {
  if (!Number.isInteger(n) || n < 2 || n > MAX_NODES) throw new Error(`a cluster has 2 to ${MAX_NODES} nodes, not ${n}`);
  return Array.from({ length: n }, (_, i) => {
    const routed = i === n - 1;
    const [net4, net6] = routed ? ['192.168.20', 'fd00:b'] : ['192.168.10', 'fd00:a'];
    return {
      name: String.fromCharCode(97 + i), v4: `${net4}.${i + 1}/24`, v6: `${net6}::${i + 1}/64`, gw4: `${net4}.254`, gw6: `${net6}::fe`,
      pod4: `10.244.${i + 1}.0/24`, pod6: `fd00:10:244:${i + 1}::/64`,
    };
  });
}

/** The three nodes of network/*.kernel.test.ts: a and b on the segment, c behind the router. */
export const NODES: readonly NodeSpec[] = nodeSpecs(3);
export const OUTSIDE4 = '203.0.113.2';
export const OUTSIDE6 = '2001:db8:113::2';
const addr = (cidr: string) => cidr.slice(0, cidr.indexOf('/'));
/** The test pod's address in a pod CIDR: network + 200 (.1 is the node's side; kpr-ipam hands out from .2). */
export const podIP = (cidr: string, host = 200) => (cidr.includes(':') ? `${addr(cidr)}${host}` : addr(cidr).replace(/\.0$/, `.${host}`));
export const nodeIP = (s: NodeSpec, family: 4 | 6) => addr(family === 4 ? s.v4 : s.v6);

export function nodeObject(s: Pick<NodeSpec, 'v4' | 'v6' | 'pod4' | 'pod6'> & { name: string }): Record<string, unknown> {
  return {
    apiVersion: 'v1', kind: 'Node', metadata: { name: s.name },
    spec: { podCIDR: s.pod4, podCIDRs: [s.pod4, s.pod6] },
    status: { addresses: [{ type: 'InternalIP', address: addr(s.v4) }, { type: 'InternalIP', address: addr(s.v6) }, { type: 'Hostname', address: s.name }] },
  };
}

export interface ClusterNode {
  spec: NodeSpec;
  ns: Netns;
  /** The underlay interface's name in the node. */
  eth: string;
  pod: Netns;
  podAgent: Agent;
  nodeFile: string;
  agent: KprProcess | undefined;
}

export interface ClusterOptions {
  /** How many nodes (default 3). */
  nodes?: number;
  /**
   * The router routes every node's pod CIDRs to that node (as a top-of-rack router that
   * peers with the nodes would): host-gw then reaches the node behind it too.
   */
  routerRoutesPods?: boolean;
}

export class NetworkCluster {
  readonly set = new NamespaceSet();
  readonly specs: readonly NodeSpec[];
  readonly nodes = new Map<string, ClusterNode>();
  outside!: Netns;
  outsideAgent!: Agent;
  router!: Netns;
  api!: ApiServer;
  readonly dir = mkdtempSync(join(tmpdir(), 'kpr-network-test-'));
  private readonly forwards: Forward[] = [];
  /** A kubeconfig for the API server, valid on the host and (through the forwards) in every node. */
  readonly kubeconfig: string;

  private constructor(private readonly opts: ClusterOptions) {
    this.specs = nodeSpecs(opts.nodes ?? 3);
    this.kubeconfig = join(this.dir, 'kubeconfig');
  }

  static async create(opts: ClusterOptions = {}): Promise<NetworkCluster> {
    const c = new NetworkCluster(opts);
    try {
      await c.build();
    } catch (err) {
      await c.destroy();
      throw err;
    }
    return c;
  }

  node(name: string): ClusterNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  private async build(): Promise<void> {
    const t = uniqueToken();
    const sw = await this.set.create('sw');
    this.router = await this.set.create('rt');
    this.outside = await this.set.create('out');
    await sw.ipBatch(['link add br0 type bridge', 'link set br0 up']);
    const rt = this.router;
    // Router: one leg on the switch (a, b), one to c, one to the outside host.
    await vethPair(rt, 'sw0', sw, `r${t}`);
    await sw.ip(['link', 'set', `r${t}`, 'master', 'br0']);
    await vethPair(rt, 'out0', this.outside, 'eth0');
    await rt.ipBatch([
      'addr add 192.168.10.254/24 dev sw0', 'addr add fd00:a::fe/64 dev sw0 nodad',
      'addr add 203.0.113.1/24 dev out0', 'addr add 2001:db8:113::1/64 dev out0 nodad',
    ]);
    await this.outside.ipBatch([`addr add ${OUTSIDE4}/24 dev eth0`, `addr add ${OUTSIDE6}/64 dev eth0 nodad`, 'route add default via 203.0.113.1', 'route add default via 2001:db8:113::1']);
    for (const k of ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']) await rt.sysctl(k, 1);

    this.api = await startApiServer({ objects: this.specs.map(nodeObject) });
    writeFileSync(this.kubeconfig, this.api.kubeconfigYaml());

    const routed = this.specs[this.specs.length - 1];
    for (const s of this.specs) {
      const ns = await this.set.create(`n${s.name}`);
      const eth = 'eth0';
      if (s === routed) {
        await vethPair(ns, eth, rt, 'c0');
        await rt.ipBatch(['addr add 192.168.20.254/24 dev c0', 'addr add fd00:b::fe/64 dev c0 nodad']);
      } else {
        await vethPair(ns, eth, sw, `${s.name}${t}`);
        await sw.ip(['link', 'set', `${s.name}${t}`, 'master', 'br0']);
      }
      await ns.ipBatch([`addr add ${s.v4} dev ${eth}`, `addr add ${s.v6} dev ${eth} nodad`, `route add default via ${s.gw4}`, `route add default via ${s.gw6}`]);
      const pod = await this.set.create(`p${s.name}`);
      await vethPair(ns, 'vpod', pod, 'eth0');
      await ns.ipBatch([`addr add ${podIP(s.pod4, 1)}/24 dev vpod`, `addr add ${podIP(s.pod6, 1)}/64 dev vpod nodad`]);
      await pod.ipBatch([
        `addr add ${podIP(s.pod4)}/24 dev eth0`, `addr add ${podIP(s.pod6)}/64 dev eth0 nodad`,
        `route add default via ${podIP(s.pod4, 1)}`, `route add default via ${podIP(s.pod6, 1)}`,
      ]);
      this.forwards.push(await forwardIntoNamespace(ns, { host: '127.0.0.1', port: this.api.port }, this.api.port));
      const podAgent = new Agent(pod);
      this.nodes.set(s.name, { spec: s, ns, eth, pod, podAgent, nodeFile: join(this.dir, `${s.name}.json`), agent: undefined });
      if (this.opts.routerRoutesPods) await rt.ipBatch([`route add ${s.pod4} via ${addr(s.v4)}`, `route add ${s.pod6} via ${addr(s.v6)}`]);
    }
    this.outsideAgent = new Agent(this.outside);
  }

  /** Starts `kpr network` on a node (extra flags appended) and waits for its first reconcile. */
  async startAgent(name: string, extra: readonly string[] = [], wait = true): Promise<KprProcess> {
    const n = this.node(name);
    const p = new KprProcess(n.ns, [
      '--kubeconfig', this.kubeconfig, '--hostname-override', name, '--node-file', n.nodeFile,
      '--healthz-bind-address', '127.0.0.1:10268', '--metrics-bind-address', '127.0.0.1:10269', ...extra,
    ], 'network');
    n.agent = p;
    p.start();
    if (wait) await p.waitForLog((l) => l.msg === 'reconciled' && l.failed === 0, 20_000, true);
    return p;
  }

  async startAll(extra: readonly string[] = []): Promise<void> {
    await Promise.all(this.specs.map((s) => this.startAgent(s.name, extra)));
  }

  /** Waits until every node's agent has reconciled with `peers` peers (VTEP MACs propagate one round later). */
  async waitPeers(peers: number, names: readonly string[] = this.specs.map((s) => s.name)): Promise<void> {
    await Promise.all(names.map((n) => this.node(n).agent?.waitForLog((l) => l.msg === 'reconciled' && l.peers === peers && l.failed === 0, 20_000, true)));
  }

  /** A Node's annotations as the API server holds them. */
  annotations(name: string): Record<string, string> {
    const annotations = this.api.get('Node', undefined, name)?.metadata.annotations;
    return (annotations && typeof annotations === 'object' ? annotations : {}) as Record<string, string>;
  }

  readNodeFile(name: string): { podCIDRs: string[]; mtu: number } {
    return JSON.parse(readFileSync(this.node(name).nodeFile, 'utf8')) as { podCIDRs: string[]; mtu: number };
  }

  /** GET on the node's loopback (healthz 10268, metrics 10269): status and body. */
  async http(name: string, port: number, path: string): Promise<{ status: number; body: string }> {
    const out = await this.node(name).ns.exec('curl', ['-s', '-m', '3', '-w', '\n%{http_code}', `http://127.0.0.1:${port}${path}`], { allowFailure: true });
    const lines = out.stdout.split('\n');
    return { status: Number(lines.pop()), body: lines.join('\n') };
  }

  async killAgents(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.agent?.kill()));
  }

  async destroy(): Promise<void> {
    await this.killAgents().catch(() => undefined);
    for (const n of this.nodes.values()) n.podAgent.stop();
    this.outsideAgent?.stop();
    await Promise.all(this.forwards.map((f) => f.stop()));
    await this.api?.close();
    await this.set.destroyAll();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The kernel's kpr entries on a node, as text that compares before/after. */
export async function kprTables(ns: Netns): Promise<string> {
  const parts = await Promise.all([
    ns.exec('ip', ['-4', 'route', 'show', 'proto', '107']),
    ns.exec('ip', ['-6', 'route', 'show', 'proto', '107']),
    ns.exec('ip', ['neigh', 'show', 'nud', 'permanent']),
    ns.exec('bridge', ['fdb', 'show'], { allowFailure: true }),
    ns.exec('ip', ['-d', 'link', 'show', 'type', 'vxlan']),
  ]);
  // Link counters and ages change by themselves; keep the stable lines.
  return parts.map((p) => p.stdout.split('\n').filter((l) => !/used|ageing/.test(l)).join('\n')).join('\n---\n');
}
