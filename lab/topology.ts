// The namespaces every flow test runs in: a "node" namespace that holds the proxy's
// rules and routes for its pods, pods attached to it by routed veths (Calico style:
// each pod has a /32 and /128 and a host route; the node side of every pod veth holds
// the gateway address), external clients on an uplink subnet, and the node's default
// gateway there, which answers every packet it would forward with "no route".
import { NamespaceSet, type Netns, uniqueToken } from './netns.ts';
import { Agent } from './agent/client.ts';

export interface HostSpec {
  ip4: string;
  ip6: string;
}

/** Pod addresses: 10.244.1.0/24 is this node's pod CIDR, 10.244.2.0/24 stands for another node's. */
export const PODS = {
  client: { ip4: '10.244.1.10', ip6: 'fd00:10:244:1::10' },
  s1: { ip4: '10.244.1.21', ip6: 'fd00:10:244:1::21' },
  s2: { ip4: '10.244.1.22', ip6: 'fd00:10:244:1::22' },
  r1: { ip4: '10.244.2.31', ip6: 'fd00:10:244:2::31' },
  r2: { ip4: '10.244.2.32', ip6: 'fd00:10:244:2::32' },
} as const satisfies Record<string, HostSpec>;
export type PodName = keyof typeof PODS;

/** Pods that run on this node; the others belong to "node-b". */
export const LOCAL_PODS: readonly PodName[] = ['client', 's1', 's2'];

export const NODE_NAME = 'node-a';
export const NODE_ZONE = 'zone-a';
/** The node's address on the uplink: its InternalIP, where NodePorts are reached. */
export const NODE_IP = { ip4: '192.0.2.1', ip6: 'fd00:192::1' };
/** Outside the cluster, on the uplink subnet. */
export const EXTERNAL = {
  ext: { ip4: '192.0.2.10', ip6: 'fd00:192::10' },
  extAllowed: { ip4: '192.0.2.20', ip6: 'fd00:192::20' },
} as const satisfies Record<string, HostSpec>;
export type ExternalName = keyof typeof EXTERNAL;

/**
 * The node's default gateway on the uplink. It forwards nothing: every packet routed to
 * it is answered with ICMP "network unreachable" (ICMPv6 "no route"), an error that no
 * proxy rule sends, so a flow can tell "no proxy rule matched, the packet left by the
 * default route" (ENETUNREACH) from a DROP (timeout) or a REJECT (ECONNREFUSED).
 */
export const GATEWAY_IP = { ip4: '192.0.2.254', ip6: 'fd00:192::fe' };

export const CLUSTER_CIDRS = ['10.244.0.0/16', 'fd00:10:244::/48'];
export const SERVICE_CIDRS = ['10.96.0.0/16', 'fd00:96::/112'];
/** Routed to the node from outside: externalIPs and load-balancer VIPs live here. */
const EXTERNAL_VIP_RANGES = ['198.51.100.0/24', 'fd00:198::/64'];

const gateway = (pod: HostSpec) => ({
  ip4: pod.ip4.replace(/\.\d+$/, '.1'),
  ip6: pod.ip6.replace(/::[0-9a-f]+$/, '::1'),
});

/** A host on the node's uplink bridge (up0) at `spec`, reaching `viaNode` through the node. */
async function attachToUplink(node: Netns, host: Netns, hostIf: string, spec: HostSpec, viaNode: readonly string[]): Promise<void> {
  await node.ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.name]);
  await node.ipBatch([`link set ${hostIf} master up0`, `link set ${hostIf} up`]);
  await host.ipBatch([
    `addr add ${spec.ip4}/24 dev eth0`,
    `addr add ${spec.ip6}/64 dev eth0 nodad`,
    'link set eth0 up',
    ...viaNode.map((c) => `route add ${c} via ${c.includes(':') ? NODE_IP.ip6 : NODE_IP.ip4}`),
  ]);
}

/** The default gateway's namespace (see GATEWAY_IP), bridged to the uplink. */
async function addGateway(set: NamespaceSet, node: Netns, hostIf: string): Promise<void> {
  const gw = await set.create('gw');
  await gw.sysctl('net.ipv4.ip_forward', 1);
  await gw.sysctl('net.ipv6.conf.all.forwarding', 1);
  // Every probe must get its answer: no per-destination ICMP rate limit.
  await gw.sysctl('net.ipv4.icmp_ratelimit', 0);
  await gw.sysctl('net.ipv6.icmp.ratelimit', 0);
  // Its answers go back to the pods through the node.
  await attachToUplink(node, gw, hostIf, GATEWAY_IP, CLUSTER_CIDRS);
  await gw.exec('nft', ['-f', '-'], {
    input: 'table inet gateway {\n  chain forward {\n    type filter hook forward priority 0;\n    reject with icmpx type no-route\n  }\n}\n',
  });
}

export class Topology {
  private constructor(
    private readonly set: NamespaceSet,
    readonly node: Netns,
    readonly pods: Record<PodName, Netns>,
    readonly externals: Record<ExternalName, Netns>,
    private readonly agents: Map<string, Agent>,
  ) {}

  static async create(): Promise<Topology> {
    const set = new NamespaceSet();
    try {
      const node = await set.create('node');
      await node.sysctl('net.ipv4.ip_forward', 1);
      await node.sysctl('net.ipv6.conf.all.forwarding', 1);
      // REJECT answers with ICMP errors, which the kernel rate-limits per destination
      // (IPv6: one a second); flows probe in quick succession.
      await node.sysctl('net.ipv4.icmp_ratelimit', 0);
      await node.sysctl('net.ipv6.icmp.ratelimit', 0);
      const t = uniqueToken();
      const pods = {} as Record<PodName, Netns>;
      let i = 0;
      for (const [name, spec] of Object.entries(PODS) as [PodName, HostSpec][]) {
        const pod = await set.create(name);
        pods[name] = pod;
        const hostIf = `p${t}${i++}`;
        await node.ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.name]);
        const gw = gateway(spec);
        await node.ipBatch([
          `addr add ${gw.ip4}/32 dev ${hostIf}`,
          `addr add ${gw.ip6}/128 dev ${hostIf} nodad`,
          `link set ${hostIf} up`,
          `route add ${spec.ip4}/32 dev ${hostIf}`,
          `route add ${spec.ip6}/128 dev ${hostIf}`,
        ]);
        await pod.ipBatch([
          `addr add ${spec.ip4}/32 dev eth0`,
          `addr add ${spec.ip6}/128 dev eth0 nodad`,
          'link set eth0 up',
          `route add ${gw.ip4} dev eth0 scope link`,
          `route add default via ${gw.ip4} dev eth0`,
          `route add ${gw.ip6} dev eth0`,
          `route add ::/0 via ${gw.ip6} dev eth0`,
        ]);
      }
      // The uplink: a bridge in the node namespace stands for the node's LAN.
      await node.ipBatch([
        'link add up0 type bridge',
        `addr add ${NODE_IP.ip4}/24 dev up0`,
        `addr add ${NODE_IP.ip6}/64 dev up0 nodad`,
        'link set up0 up',
        // A default route as every real node has.
        `route add default via ${GATEWAY_IP.ip4}`,
        `route add ::/0 via ${GATEWAY_IP.ip6}`,
      ]);
      const externals = {} as Record<ExternalName, Netns>;
      for (const [name, spec] of Object.entries(EXTERNAL) as [ExternalName, HostSpec][]) {
        const ext = await set.create(name);
        externals[name] = ext;
        const hostIf = `u${t}${i++}`;
        await attachToUplink(node, ext, hostIf, spec, [...SERVICE_CIDRS, ...EXTERNAL_VIP_RANGES, ...CLUSTER_CIDRS]);
      }
      await addGateway(set, node, `u${t}${i++}`);
      return new Topology(set, node, pods, externals, new Map());
    } catch (err) {
      await set.destroyAll();
      throw err;
    }
  }

  /** The traffic agent living in a namespace (started on first use). */
  agent(ns: Netns): Agent {
    let a = this.agents.get(ns.name);
    if (!a) this.agents.set(ns.name, (a = new Agent(ns)));
    return a;
  }

  /** Starts TCP and UDP servers in every server pod; each answers with its pod name. */
  async startServers(ports: { tcp: number[]; udp: number[] }): Promise<void> {
    for (const name of ['s1', 's2', 'r1', 'r2'] as const) {
      const a = this.agent(this.pods[name]);
      for (const p of ports.tcp) await a.listen('tcp', p, name);
      for (const p of ports.udp) await a.listen('udp', p, name);
    }
    // Resolve every neighbour once (IPv6 ND especially) so the first probe of a flow
    // does not race address resolution.
    const node = this.agent(this.node);
    const port = ports.tcp[0] ?? 0;
    await Promise.all(
      (['s1', 's2', 'r1', 'r2'] as const).flatMap((name) =>
        [PODS[name].ip4, PODS[name].ip6].map((host) => node.call({ op: 'probe', proto: 'tcp', host, port, timeoutMs: 3000 })),
      ),
    );
    // The gateway answers the node with a reset: both sides know each other's address.
    await Promise.all([GATEWAY_IP.ip4, GATEWAY_IP.ip6].map((host) => node.call({ op: 'probe', proto: 'tcp', host, port, timeoutMs: 3000 })));
    for (const name of ['client', 's1'] as const) {
      const a = this.agent(this.pods[name]);
      await Promise.all([PODS.s2.ip4, PODS.s2.ip6].map((host) => a.call({ op: 'probe', proto: 'tcp', host, port, timeoutMs: 3000 })));
    }
    for (const ns of Object.values(this.externals)) {
      const a = this.agent(ns);
      await Promise.all([PODS.s1.ip4, PODS.s1.ip6].map((host) => a.call({ op: 'probe', proto: 'tcp', host, port, timeoutMs: 3000 })));
    }
  }

  async destroy(): Promise<void> {
    for (const a of this.agents.values()) a.stop();
    this.agents.clear();
    await this.set.destroyAll();
  }
}
