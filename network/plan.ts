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

/** Everything the plan depends on but the peers. */
export type PlanContext = Omit<PlanInput, 'peers'>;

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
function devicesFor(input: PlanContext): PerFamily<VxlanDevice> {
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

export interface PeerEntries {
  routes: Route[];
  neighbours: Neighbour[];
  fdb: FdbEntry[];
}

/** One peer's entries for one family, or why there are none. */
function peerFamily(input: PlanContext, devices: PerFamily<VxlanDevice>, peer: NetNode, family: IPFamily): PeerEntries | Skipped {
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
  const planner = new NetworkPlanner(input);
  planner.update(new Map(input.peers.map((p) => [p.name, p])));
  return planner.desired();
}

/** One peer's part of the plan: its entries after clashes are settled, and what of it was skipped. */
interface PeerOutcome extends PeerEntries {
  skipped: Skipped[];
}

/** A family's entries before clashes are settled (one route, at most one FDB entry), with the keys it claims. */
type Candidate = { family: IPFamily; entries: PeerEntries; dst: string; mac: string | undefined } | { family: IPFamily; skipped: Skipped };

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Entries of kernel kind, and how many of them per family (for the metrics). */
export type EntryCounts = Record<'route' | 'neighbour' | 'fdb', Record<IPFamily, number>>;

/**
 * The plan kept between reconciles, so that a Node change re-plans only that Node and the
 * peers its claims touch (O(changed Nodes), not O(cluster)). Two Nodes claiming one pod
 * CIDR or one VTEP MAC: the later name in order is skipped, and a skipped family claims
 * nothing; so a change re-settles the whole group of peers linked by shared claims (as a
 * rule one peer), which no peer outside it can affect. This node's own pod CIDRs always win.
 */
export class NetworkPlanner {
  readonly devices: VxlanDevice[];
  readonly podMTU: number;
  private readonly byFamily: PerFamily<VxlanDevice>;
  private readonly candidates = new Map<string, Candidate[]>();
  /** The claim keys each peer's candidates name. */
  private readonly claims = new Map<string, string[]>();
  private readonly outcomes = new Map<string, PeerOutcome>();
  /** Claim key -> the peer whose candidate entries name it, or the peers when several do (a clash). */
  private readonly claimants = new Map<string, string | Set<string>>();
  private readonly selfClaims: Map<string, string>;
  readonly counts: EntryCounts = { route: { 4: 0, 6: 0 }, neighbour: { 4: 0, 6: 0 }, fdb: { 4: 0, 6: 0 } };
  /** Peers with at least one route. */
  peers = 0;
  /** Peers with something skipped, with it. */
  readonly skipped = new Map<string, Skipped[]>();

  constructor(private readonly input: PlanContext) {
    this.byFamily = devicesFor(input);
    this.devices = [...new Set(Object.values(this.byFamily))];
    this.podMTU = Math.min(input.underlay.mtu, ...this.devices.map((d) => d.mtu));
    this.selfClaims = new Map(FAMILIES.flatMap((f) => (input.self.podCIDRs[f] ? [[`d ${input.self.podCIDRs[f]}`, input.self.name] as const] : [])));
  }

  /**
   * Sets the given peers (undefined: gone) and re-settles the peers their claims touch.
   * Returns those peers' entries before and after: the kernel ops are the diff of the two.
   */
  update(changes: ReadonlyMap<string, NetNode | undefined>): { before: PeerEntries; after: PeerEntries } {
    const touched = new Set<string>();
    const released: string[] = [];
    for (const [name, peer] of changes) {
      for (const key of this.claimsOf(name)) { this.removeClaimant(key, name); released.push(key); }
      if (peer) {
        const candidates = this.candidatesOf(peer);
        this.candidates.set(name, candidates);
        this.claims.set(name, candidates.flatMap((c) => ('entries' in c ? (c.mac === undefined ? [c.dst] : [c.dst, c.mac]) : [])));
      } else {
        this.candidates.delete(name);
        this.claims.delete(name);
      }
      for (const key of this.claimsOf(name)) {
        this.addClaimant(key, name);
      }
      touched.add(name);
    }
    // The closure over shared claims: every peer naming a key any of them names (on the first update, all of them anyway).
    for (const key of released) for (const other of this.claimantsOf(key)) touched.add(other);
    const queue = this.outcomes.size ? [...touched] : [];
    for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
      for (const key of this.claimsOf(name)) {
        for (const other of this.claimantsOf(key)) if (!touched.has(other)) { touched.add(other); queue.push(other); }
      }
    }
    const before = entriesOf([...touched].flatMap((n) => this.outcomes.get(n) ?? []));
    for (const name of touched) this.setOutcome(name, undefined);
    const held = new Map(this.selfClaims);
    const after: PeerOutcome[] = [];
    for (const name of [...touched].sort(byName)) {
      const candidates = this.candidates.get(name);
      if (!candidates) continue;
      const outcome = settle(name, candidates, held);
      this.setOutcome(name, outcome);
      after.push(outcome);
    }
    return { before, after: entriesOf(after) };
  }

  /** The whole plan, peers in name order. */
  desired(): DesiredNetwork {
    const names = [...this.outcomes.keys()].sort(byName);
    const outcomes = names.map((n) => this.outcomes.get(n) as PeerOutcome);
    return { devices: this.devices, ...entriesOf(outcomes), skipped: outcomes.flatMap((o) => o.skipped), peers: this.peers, podMTU: this.podMTU };
  }

  private claimantsOf(key: string): Iterable<string> {
    const c = this.claimants.get(key);
    return c === undefined ? [] : typeof c === 'string' ? [c] : c;
  }

  private addClaimant(key: string, name: string): void {
    const c = this.claimants.get(key);
    if (c === undefined) this.claimants.set(key, name);
    else if (typeof c !== 'string') c.add(name);
    else if (c !== name) this.claimants.set(key, new Set([c, name]));
  }

  private removeClaimant(key: string, name: string): void {
    const c = this.claimants.get(key);
    if (c === name) this.claimants.delete(key);
    else if (typeof c !== 'string' && c?.delete(name) && c.size === 1) this.claimants.set(key, c.values().next().value as string);
  }

  private claimsOf(name: string): readonly string[] {
    return this.claims.get(name) ?? [];
  }

  private candidatesOf(peer: NetNode): Candidate[] {
    return FAMILIES.filter((f) => this.input.self.podCIDRs[f] && peer.podCIDRs[f]).map((family) => {
      const r = peerFamily(this.input, this.byFamily, peer, family);
      if ('reason' in r) return { family, skipped: r };
      const fdb = r.fdb[0];
      return { family, entries: r, dst: `d ${peer.podCIDRs[family] as string}`, mac: fdb && `m ${fdb.dev} ${fdb.mac}` };
    });
  }

  private setOutcome(name: string, outcome: PeerOutcome | undefined): void {
    const old = this.outcomes.get(name);
    if (old) this.count(old, -1);
    if (outcome) { this.outcomes.set(name, outcome); this.count(outcome, 1); } else this.outcomes.delete(name);
    if (outcome?.skipped.length) this.skipped.set(name, outcome.skipped);
    else this.skipped.delete(name);
  }

  private count(o: PeerOutcome, sign: 1 | -1): void {
    if (o.routes.length) this.peers += sign;
    // Neighbours by the family of their address, FDB entries by the family of their remote (the underlay).
    const fam = (ip: string): IPFamily => (ip.includes(':') ? 6 : 4);
    for (const r of o.routes) this.counts.route[r.family] += sign;
    for (const n of o.neighbours) this.counts.neighbour[fam(n.ip)] += sign;
    for (const f of o.fdb) this.counts.fdb[fam(f.dst)] += sign;
  }
}

/** One peer's candidates against the claims held so far (which it extends). */
function settle(name: string, candidates: readonly Candidate[], held: Map<string, string>): PeerOutcome {
  const out: PeerOutcome = { routes: [], neighbours: [], fdb: [], skipped: [] };
  for (const c of candidates) {
    if ('skipped' in c) { out.skipped.push(c.skipped); continue; }
    const r = c.entries;
    const dstHolder = held.get(c.dst);
    // A peer's two families on one shared device have one MAC: that is no clash.
    const macHolder = c.mac === undefined || held.get(c.mac) === name ? undefined : held.get(c.mac);
    if (dstHolder !== undefined || macHolder !== undefined) {
      const dst = r.routes[0]?.dst ?? '';
      const clash = dstHolder !== undefined ? `pod CIDR ${dst} is also Node ${dstHolder}'s` : `VTEP MAC is also Node ${macHolder}'s`;
      out.skipped.push({ node: name, family: c.family, reason: clash });
      continue;
    }
    held.set(c.dst, name);
    out.routes.push(...r.routes);
    out.neighbours.push(...r.neighbours);
    if (c.mac !== undefined && !held.has(c.mac)) {
      held.set(c.mac, name);
      out.fdb.push(...r.fdb);
    }
  }
  return out;
}

function entriesOf(parts: readonly PeerEntries[]): PeerEntries {
  return { routes: parts.flatMap((p) => p.routes), neighbours: parts.flatMap((p) => p.neighbours), fdb: parts.flatMap((p) => p.fdb) };
}

/** The canonical text of an address (kernel output compares with the plan as text). IPv4 text from the kernel already is. */
export function canonicalIP(s: string): string {
  if (!s.includes(':')) return s;
  const ip = parseIP(s);
  return ip ? formatIP(ip) : s;
}
