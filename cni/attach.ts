// What an attachment mode (bridge, routed) turns a pod's addresses into: the link ops
// of the node and of the container (each applied over an rtnetlink socket of its netns),
// the sysctls on each side, and the interfaces, IPs and routes for the result. Pure: no
// kernel calls here.
import { cidrRange, formatIP, parseCIDR, type IPFamily } from '../lib/ip.ts';
import type { NetConf } from './config.ts';
import type { LinkOp } from './link-ops.ts';
import type { Interface, IPConfig, Route } from './result.ts';

export interface PodAddress {
  /** "10.244.1.5/24": the pod address with the prefix of its subnet. */
  address: string;
  gateway?: string;
}

export interface AttachInput {
  conf: NetConf;
  netns: string;
  ifName: string;
  mtu: number;
  hostVeth: string;
  hostMac: string;
  containerMac: string;
  alias: string;
  addresses: readonly PodAddress[];
  /** Extra routes from IPAM ({dst, gw?}); a default route per family is added unless given. */
  routes: readonly Route[];
  /** Whether the node already has the bridge (bridge mode). */
  bridgeExists: boolean;
}

export interface AttachPlan {
  hostOps: LinkOp[];
  /** sysctls in the node netns, after hostOps. */
  hostSysctls: Array<[string, string]>;
  /** The container's addresses and link up. */
  containerOps: LinkOp[];
  /** sysctls inside the container, before containerOps (so the link comes up without DAD). */
  containerSysctls: Array<[string, string]>;
  interfaces: Interface[];
  ips: IPConfig[];
  /** The pod's routes, and the op that adds each (same order), applied after containerOps. */
  routes: Route[];
  routeOps: LinkOp[];
}

export function familyOf(cidrOrIp: string): IPFamily {
  return cidrOrIp.includes(':') ? 6 : 4;
}

export function addressOf(cidr: string): string {
  return cidr.split('/')[0] ?? cidr;
}

export function defaultDst(family: IPFamily): string {
  return family === 4 ? '0.0.0.0/0' : '::/0';
}

/** The subnet's first host address: host-local's default gateway. */
export function firstHost(cidr: string): string {
  const c = parseCIDR(cidr);
  if (!c) return addressOf(cidr);
  return formatIP({ family: c.family, value: cidrRange(c).first + 1n });
}

/** The ops that create the veth pair, the pod end directly inside its netns, and label the host end. */
export function vethOps(i: AttachInput): LinkOp[] {
  return [
    { op: 'add-veth', name: i.hostVeth, mtu: i.mtu, mac: i.hostMac, peer: i.ifName, peerMtu: i.mtu, peerMac: i.containerMac, peerNetns: i.netns },
    // The kernel ignores an alias given at creation; GC reads it back to find stale attachments.
    { op: 'set-alias', dev: i.hostVeth, alias: i.alias },
  ];
}

/**
 * Routes inside the pod: the IPAM ones (gateway filled in per family); a family for
 * which IPAM names no route gets a default route (which ADD leaves out where another
 * attachment of the pod has one: routes.ts).
 */
export function podRoutes(routes: readonly Route[], gateways: ReadonlyMap<IPFamily, string>): Route[] {
  const out: Route[] = [];
  for (const r of routes) {
    const gw = r.gw ?? gateways.get(familyOf(r.dst));
    if (!gw && !gateways.has(familyOf(r.dst))) continue;
    out.push(gw ? { ...r, gw } : { ...r });
  }
  for (const [family, gw] of gateways) {
    if (!out.some((r) => familyOf(r.dst) === family)) out.push({ dst: defaultDst(family), gw });
  }
  return out;
}

/** The container's addresses (new: an address the pod has is an error) and its link up. */
export function containerOps(ifName: string, cidrs: readonly string[]): LinkOp[] {
  return [...cidrs.map((cidr): LinkOp => ({ op: 'add-addr', dev: ifName, cidr, nodad: familyOf(cidr) === 6 })), { op: 'set-up', dev: ifName }];
}

/**
 * `route add`; "File exists" is sorted out afterwards (routes.ts settleTakenRoutes).
 * onlink: the gateway is on the link without a route to it (routed mode's 169.254.1.1).
 */
export function routeOp(r: Route, ifName: string, onlink = false): LinkOp {
  return { op: 'add-route', dst: r.dst, ...(r.gw ? { gw: r.gw } : {}), dev: ifName, onlink, ...(r.mtu ? { mtu: r.mtu } : {}) };
}

export function dadSysctls(ifName: string, addresses: readonly PodAddress[]): Array<[string, string]> {
  return addresses.some((a) => familyOf(a.address) === 6) ? [[`net/ipv6/conf/${ifName}/accept_dad`, '0']] : [];
}

export function forwardingSysctls(addresses: readonly PodAddress[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (addresses.some((a) => familyOf(a.address) === 4)) out.push(['net/ipv4/ip_forward', '1']);
  if (addresses.some((a) => familyOf(a.address) === 6)) out.push(['net/ipv6/conf/all/forwarding', '1']);
  return out;
}
