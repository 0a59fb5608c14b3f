// The desired pod network of one node, from its own Node, its peers and its underlay
// interface (pure). VXLAN as flannel's: per family one device whose address is the
// network address of the node's pod CIDR, and per peer a route to its pod CIDR via
// its VTEP address (onlink), a permanent neighbour (VTEP address -> VTEP MAC) and a
// permanent FDB entry (VTEP MAC -> the peer's InternalIP). host-gw: per peer a route via
// its InternalIP, for peers on a directly connected subnet only.
import { createHash } from 'node:crypto';
import { cidrContains, formatIP, parseCIDR, parseIP, type IPFamily } from '../lib/ip.ts';
import type { Backend } from './config.ts';
import type { NetNode, PerFamily } from './nodes.ts';

/** kpr's route protocol number (rtnetlink `proto`): how its routes are told apart from any other. */
export const RT_PROTO = 107;

export const DEVICE_NAME: Record<IPFamily, string> = { 4: 'kpr-vxlan4', 6: 'kpr-vxlan6' };
export const DEVICE_NAMES: readonly string[] = Object.values(DEVICE_NAME);

/** Bytes VXLAN adds: outer IP + UDP + VXLAN + inner Ethernet (flannel's 50 over IPv4). */
export const VXLAN_OVERHEAD: Record<IPFamily, number> = { 4: 50, 6: 70 };

export interface UnderlayAddress {
  family: IPFamily;
  local: string;
  prefixlen: number;
}

export interface Underlay {
  name: string;
  mtu: number;
  /** Its global addresses with their prefixes: the directly connected subnets. */
  addresses: UnderlayAddress[];
}

/**
 * A VXLAN device, named after its underlay family. Normally it carries the overlay of the
 * same family; on a Node without an InternalIP of some family, that family's overlay
 * shares the other family's device (two devices with one VNI, port and local address
 * cannot coexist, and one L2 device carries both families anyway).
 */
export interface VxlanDevice {
  name: string;
  /** The family of the underlay (local, remotes). */
  underlay: IPFamily;
  /** The overlay families (pod addresses) it carries. */
  families: IPFamily[];
  vni: number;
  port: number;
  /** The node's underlay address (InternalIP) the tunnel starts from. */
  local: string;
  /** The underlay interface. */
  link: string;
  mtu: number;
  mac: string;
  /** Per overlay family, "10.244.4.0/32": the network address of the node's pod CIDR. */
  addresses: string[];
}

export interface Route {
  family: IPFamily;
  dst: string;
  via: string;
  dev: string;
  onlink: boolean;
}

export interface Neighbour {
  dev: string;
  ip: string;
  mac: string;
}

export interface FdbEntry {
  dev: string;
  mac: string;
  dst: string;
}

/** A peer (or family of a peer) left out, with why, named for the log and the metrics. */
export interface Skipped {
  node: string;
  /** Undefined when the whole Node is left out (it cannot be parsed). */
  family?: IPFamily;
  reason: string;
  /** host-gw cannot reach it (not on a directly connected subnet): counted apart. */
  unreachable?: boolean;
  /** Expected to resolve by itself (the peer's agent has not published its VTEP MAC yet). */
  pending?: boolean;
}

export interface DesiredNetwork {
  devices: VxlanDevice[];
  routes: Route[];
  neighbours: Neighbour[];
  fdb: FdbEntry[];
  skipped: Skipped[];
  /** Peers with at least one route. */
  peers: number;
  /** The pod MTU for the node file. */
  podMTU: number;
}

export interface PlanInput {
  backend: Backend;
  directRouting: boolean;
  vni: number;
  port: number;
  self: NetNode;
  peers: readonly NetNode[];
  underlay: Underlay;
}

const FAMILIES: readonly IPFamily[] = [4, 6];
const other = (f: IPFamily): IPFamily => (f === 4 ? 6 : 4);

/** A stable, locally administered unicast MAC per node and device, so a recreated device keeps its MAC. */
export function vtepMAC(nodeName: string, family: IPFamily): string {
  const b = createHash('sha256').update(`kpr-vxlan/${nodeName}/${family}`).digest();
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return [...b.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The network address of a canonical CIDR ("10.244.4.0/24" -> "10.244.4.0"). */
export function networkAddress(cidr: string): string {
  return cidr.slice(0, cidr.indexOf('/'));
}

/** Whether ip lies in a subnet the underlay is directly connected to. */
export function onConnectedSubnet(ip: string, underlay: Underlay): boolean {
  const addr = parseIP(ip);
  if (!addr) return false;
  return underlay.addresses.some((a) => {
    const c = parseCIDR(`${a.local}/${a.prefixlen}`);
    return c !== undefined && cidrContains(c, addr);
  });
}

/** The underlay family of a family's overlay: its own where the node has such an InternalIP, else the other. */
export function underlayFamily(self: NetNode, family: IPFamily): IPFamily | undefined {
  if (self.internalIPs[family]) return family;
  return self.internalIPs[other(family)] ? other(family) : undefined;
}

/** The device carrying each overlay family (one object for two families when they share it). */
function devicesFor(input: PlanInput): PerFamily<VxlanDevice> {
  const out: PerFamily<VxlanDevice> = {};
  if (input.backend !== 'vxlan') return out;
  const byUnderlay: PerFamily<VxlanDevice> = {};
  for (const family of FAMILIES) {
    const cidr = input.self.podCIDRs[family];
    const uf = underlayFamily(input.self, family);
    const local = uf && input.self.internalIPs[uf];
    if (!cidr || !uf || !local) continue;
    const dev = (byUnderlay[uf] ??= {
      name: DEVICE_NAME[uf], underlay: uf, families: [], vni: input.vni, port: input.port, local, link: input.underlay.name,
      mtu: input.underlay.mtu - VXLAN_OVERHEAD[uf], mac: vtepMAC(input.self.name, uf), addresses: [],
    });
    dev.families.push(family);
    dev.addresses.push(`${networkAddress(cidr)}/${family === 4 ? 32 : 128}`);
    out[family] = dev;
  }
  return out;
}

interface PeerEntries {
  routes: Route[];
  neighbours: Neighbour[];
  fdb: FdbEntry[];
}

/** One peer's entries for one family, or why there are none. */
function peerFamily(input: PlanInput, devices: PerFamily<VxlanDevice>, peer: NetNode, family: IPFamily): PeerEntries | Skipped {
  const dst = peer.podCIDRs[family] as string;
  const skip = (reason: string, flags: Pick<Skipped, 'unreachable' | 'pending'> = {}): Skipped => ({ node: peer.name, family, reason, ...flags });
  if (input.backend === 'host-gw' || input.directRouting) {
    const gw = peer.internalIPs[family];
    if (gw && onConnectedSubnet(gw, input.underlay)) {
      return { routes: [{ family, dst, via: gw, dev: input.underlay.name, onlink: false }], neighbours: [], fdb: [] };
    }
    if (input.backend === 'host-gw') {
      return skip(gw ? `InternalIP ${gw} is not on a directly connected subnet of ${input.underlay.name}` : `no IPv${family} InternalIP to route IPv${family} pods via`, { unreachable: true });
    }
  }
  const dev = devices[family];
  if (!dev) return skip(`no IPv${family} VXLAN device on this node`);
  const uf = dev.underlay;
  const remote = peer.internalIPs[uf];
  if (!remote) return skip(`no IPv${uf} InternalIP to reach its IPv${family} VTEP over`);
  const mac = peer.vtepMACs[family];
  if (!mac) return skip('no VTEP MAC annotation yet (its agent has not started, or runs host-gw)', { pending: true });
  const vtep = networkAddress(dst);
  return {
    routes: [{ family, dst, via: vtep, dev: dev.name, onlink: true }],
    neighbours: [{ dev: dev.name, ip: vtep, mac }],
    fdb: [{ dev: dev.name, mac, dst: remote }],
  };
}

export function planNetwork(input: PlanInput): DesiredNetwork {
  const devices = devicesFor(input);
  const out: DesiredNetwork = { devices: [...new Set(Object.values(devices))], routes: [], neighbours: [], fdb: [], skipped: [], peers: 0, podMTU: input.underlay.mtu };
  for (const d of out.devices) out.podMTU = Math.min(out.podMTU, d.mtu);
  // Who holds what, so that two Nodes claiming one pod CIDR or one MAC cannot fight over an entry.
  const dsts = new Map<string, string>();
  const macs = new Map<string, string>();
  for (const family of FAMILIES) {
    const own = input.self.podCIDRs[family];
    if (own) dsts.set(own, input.self.name);
  }
  const peers = [...input.peers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const peer of peers) {
    let routed = false;
    for (const family of FAMILIES) {
      if (!input.self.podCIDRs[family] || !peer.podCIDRs[family]) continue;
      const r = peerFamily(input, devices, peer, family);
      if ('reason' in r) { out.skipped.push(r); continue; }
      const dstHolder = r.routes.map((x) => dsts.get(x.dst)).find((h) => h !== undefined);
      // A peer's two families on one shared device have one MAC: that is no clash.
      const macHolder = r.fdb.map((x) => macs.get(`${x.dev} ${x.mac}`)).find((h) => h !== undefined && h !== peer.name);
      if (dstHolder !== undefined || macHolder !== undefined) {
        const clash = dstHolder !== undefined ? `pod CIDR ${peer.podCIDRs[family]} is also Node ${dstHolder}'s` : `VTEP MAC is also Node ${macHolder}'s`;
        out.skipped.push({ node: peer.name, family, reason: clash });
        continue;
      }
      for (const x of r.routes) dsts.set(x.dst, peer.name);
      out.routes.push(...r.routes);
      out.neighbours.push(...r.neighbours);
      for (const x of r.fdb) {
        if (macs.has(`${x.dev} ${x.mac}`)) continue;
        macs.set(`${x.dev} ${x.mac}`, peer.name);
        out.fdb.push(x);
      }
      routed = true;
    }
    if (routed) out.peers++;
  }
  return out;
}

/** The canonical text of an address (kernel output compares with the plan as text). IPv4 text from the kernel already is. */
export function canonicalIP(s: string): string {
  if (!s.includes(':')) return s;
  const ip = parseIP(s);
  return ip ? formatIP(ip) : s;
}
