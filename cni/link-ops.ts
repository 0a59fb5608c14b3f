// What the plugin does to links, addresses, routes and neighbours, on the node and in
// the pod: data, applied in-process over rtnetlink (rtnetlink.ts) by a socket of the
// netns it is for. Each op reads as the `ip` command that does the same, which errors
// quote, the plan tests compare and the fallback without the addons runs.

export type LinkOp =
  /** A bridge; "exists" is fine (two first pods may race to create it). */
  | { op: 'add-bridge'; name: string; mtu: number; mac: string }
  | { op: 'replace-addr'; dev: string; cidr: string; nodad: boolean }
  /** An address that must be new (the pod's). */
  | { op: 'add-addr'; dev: string; cidr: string; nodad: boolean }
  /** A veth pair whose peer is created directly inside the netns at peerNetns (a path). */
  | { op: 'add-veth'; name: string; mtu: number; mac: string; peer: string; peerMtu: number; peerMac: string; peerNetns: string }
  | { op: 'set-alias'; dev: string; alias: string }
  | { op: 'set-master'; dev: string; master: string }
  | { op: 'set-hairpin'; dev: string }
  | { op: 'set-up'; dev: string }
  | { op: 'replace-route'; dst: string; dev: string }
  /**
   * A route of the pod; a taken destination is reported back, not an error (routes.ts
   * settles it). onlink: the gateway is on the link without a route to it.
   */
  | { op: 'add-route'; dst: string; gw?: string; dev: string; onlink: boolean; mtu?: number }
  | { op: 'add-proxy-neigh'; dst: string; dev: string }
  /** Deleting a link that is gone is fine. */
  | { op: 'del-link'; name: string };

/** How the kernel (errno) and `ip` (its message) say the failure that still counts as done. */
export function toleratedFailure(o: LinkOp): { errno: number; ipMessage: string } | undefined {
  if (o.op === 'add-bridge' || o.op === 'add-route') return { errno: 17 /* EEXIST */, ipMessage: 'File exists' };
  if (o.op === 'del-link') return { errno: 19 /* ENODEV */, ipMessage: 'Cannot find device' };
  return undefined;
}

/** The links of one netns (the node's or a pod's): rtnetlink in-process, or `ip` where an addon is missing. */
export interface Links {
  /**
   * Applies the ops in order; throws a KprError naming the first that fails (as its
   * `ip` command). Returns the indexes of the ops that failed as toleratedFailure allows.
   */
  apply(ops: readonly LinkOp[]): Promise<number[]>;
  /** The MTU of a link of this netns; undefined when there is none of that name. */
  mtuOf(name: string): Promise<number | undefined>;
  close(): void;
}

/** The `ip` command line that does what the op does. */
export function describeOp(o: LinkOp): string {
  switch (o.op) {
    case 'add-bridge': return `link add ${o.name} mtu ${o.mtu} address ${o.mac} type bridge`;
    case 'replace-addr': return `addr replace ${o.cidr} dev ${o.dev}${o.nodad ? ' nodad' : ''}`;
    case 'add-addr': return `addr add ${o.cidr} dev ${o.dev}${o.nodad ? ' nodad' : ''}`;
    case 'add-veth': return `link add ${o.name} mtu ${o.mtu} address ${o.mac} type veth peer name ${o.peer} mtu ${o.peerMtu} address ${o.peerMac} netns ${o.peerNetns}`;
    case 'set-alias': return `link set ${o.dev} alias ${o.alias}`;
    case 'set-master': return `link set ${o.dev} master ${o.master}`;
    case 'set-hairpin': return `link set ${o.dev} type bridge_slave hairpin on`;
    case 'set-up': return `link set ${o.dev} up`;
    case 'replace-route': return `route replace ${o.dst} dev ${o.dev} scope link`;
    // "0.0.0.0/0" and "::/0" carry their family; a bare "default" would not in a batch.
    case 'add-route': return `route add ${o.dst}${o.gw ? ` via ${o.gw}` : ''} dev ${o.dev}${o.onlink ? ' onlink' : ''}${o.mtu ? ` mtu ${o.mtu}` : ''}`;
    case 'add-proxy-neigh': return `neigh add proxy ${o.dst} dev ${o.dev}`;
    case 'del-link': return `link del ${o.name}`;
  }
}

/** The links a plan's ops name (addresses, routes and neighbours address their link by index). */
export function linksNamed(o: LinkOp): string[] {
  switch (o.op) {
    case 'set-master': return [o.master];
    case 'replace-addr': case 'add-addr': case 'replace-route': case 'add-route': case 'add-proxy-neigh': return [o.dev];
    default: return [];
  }
}
