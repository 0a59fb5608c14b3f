// What the plugin does to links, addresses, routes and neighbours of the node: data,
// applied in-process over rtnetlink (rtnetlink.ts). Each op reads as the `ip` command
// that does the same, which errors quote and the plan tests compare.

export type HostOp =
  /** A bridge; "exists" is fine (two first pods may race to create it). */
  | { op: 'add-bridge'; name: string; mtu: number; mac: string }
  | { op: 'replace-addr'; dev: string; cidr: string; nodad: boolean }
  /** A veth pair whose peer is created directly inside the netns at peerNetns (a path). */
  | { op: 'add-veth'; name: string; mtu: number; mac: string; peer: string; peerMtu: number; peerMac: string; peerNetns: string }
  | { op: 'set-alias'; dev: string; alias: string }
  | { op: 'set-master'; dev: string; master: string }
  | { op: 'set-hairpin'; dev: string }
  | { op: 'set-up'; dev: string }
  | { op: 'replace-route'; dst: string; dev: string }
  | { op: 'add-proxy-neigh'; dst: string; dev: string }
  /** Deleting a link that is gone is fine. */
  | { op: 'del-link'; name: string };

/** How the kernel (errno) and `ip` (its message) say the failure that still counts as done. */
export function toleratedFailure(o: HostOp): { errno: number; ipMessage: string } | undefined {
  if (o.op === 'add-bridge') return { errno: 17 /* EEXIST */, ipMessage: 'File exists' };
  if (o.op === 'del-link') return { errno: 19 /* ENODEV */, ipMessage: 'Cannot find device' };
  return undefined;
}

/** The node's links as ADD and DEL use them: rtnetlink in-process, or `ip` where the addon is missing. */
export interface NodeLinks {
  /** Applies the ops in order; throws a KprError naming the first that fails (as its `ip` command). */
  apply(ops: readonly HostOp[]): Promise<void>;
  /** The MTU of a link of the node; undefined when there is none of that name. */
  mtuOf(name: string): Promise<number | undefined>;
  close(): void;
}

/** The `ip` command line that does what the op does. */
export function describeHostOp(o: HostOp): string {
  switch (o.op) {
    case 'add-bridge': return `link add ${o.name} mtu ${o.mtu} address ${o.mac} type bridge`;
    case 'replace-addr': return `addr replace ${o.cidr} dev ${o.dev}${o.nodad ? ' nodad' : ''}`;
    case 'add-veth': return `link add ${o.name} mtu ${o.mtu} address ${o.mac} type veth peer name ${o.peer} mtu ${o.peerMtu} address ${o.peerMac} netns ${o.peerNetns}`;
    case 'set-alias': return `link set ${o.dev} alias ${o.alias}`;
    case 'set-master': return `link set ${o.dev} master ${o.master}`;
    case 'set-hairpin': return `link set ${o.dev} type bridge_slave hairpin on`;
    case 'set-up': return `link set ${o.dev} up`;
    case 'replace-route': return `route replace ${o.dst} dev ${o.dev} scope link`;
    case 'add-proxy-neigh': return `neigh add proxy ${o.dst} dev ${o.dev}`;
    case 'del-link': return `link del ${o.name}`;
  }
}
