// What the kernel holds of kpr's (read by kernel.ts) against what the plan wants, as the
// fewest `ip -batch` / `bridge -batch` lines (pure). What is right stays untouched (no
// delete-and-add, no flap); what is stale goes; only kpr's own entries are ever named:
// routes with kpr's protocol, devices with kpr's names and the entries on them.
// Addresses on both sides are canonical text (nodes.ts and kernel.ts make them so), so
// they compare as strings.
import { RT_PROTO, type DesiredNetwork, type PeerEntries, type FdbEntry, type Neighbour, type Route, type VxlanDevice } from './plan.ts';

export interface CurrentDevice {
  name: string;
  /** VXLAN attributes; undefined when a link of that name is not a VXLAN device. */
  vxlan: { vni: number; port: number; local: string; link: string; learning: boolean } | undefined;
  mtu: number;
  mac: string;
  up: boolean;
  /** Global-scope addresses, "ip/prefix". */
  addresses: string[];
}

export interface CurrentNetwork {
  devices: CurrentDevice[];
  /** Routes with kpr's protocol (main table). */
  routes: Route[];
  /** Permanent neighbours on kpr's devices. */
  neighbours: Neighbour[];
  /** FDB entries with a remote on kpr's devices. */
  fdb: FdbEntry[];
}

export interface NetworkOps {
  /** Lines for `ip -force -batch -`, in order. */
  ip: string[];
  /** Lines for `bridge -force -batch -`, run after `ip`. */
  bridge: string[];
}

const routeKey = (r: Route) => `${r.family} ${r.dst}`;
const neighKey = (n: Neighbour) => `${n.dev} ${n.ip}`;
const fdbKey = (f: FdbEntry) => `${f.dev} ${f.mac}`;

function sameDevice(cur: CurrentDevice, want: VxlanDevice): boolean {
  const v = cur.vxlan;
  return v !== undefined && v.vni === want.vni && v.port === want.port && v.local === want.local && v.link === want.link && !v.learning;
}

const addAddress = (d: VxlanDevice, a: string) => `addr add ${a} dev ${d.name}${a.includes(':') ? ' nodad' : ''}`;

function createDevice(d: VxlanDevice): string[] {
  return [
    `link add ${d.name} type vxlan id ${d.vni} local ${d.local} dev ${d.link} dstport ${d.port} nolearning`,
    `link set ${d.name} address ${d.mac} mtu ${d.mtu}`,
    ...d.addresses.map((a) => addAddress(d, a)),
    `link set ${d.name} up`,
  ];
}

/** Device lines, and the names of the devices whose entries vanish with them (deleted or recreated). */
function deviceOps(current: readonly CurrentDevice[], desired: readonly VxlanDevice[], ownNames: readonly string[]): { lines: string[]; gone: Set<string> } {
  const lines: string[] = [];
  const gone = new Set<string>();
  const want = new Map(desired.map((d) => [d.name, d]));
  for (const cur of current) {
    if (!ownNames.includes(cur.name)) continue;
    const d = want.get(cur.name);
    if (!d || !sameDevice(cur, d)) {
      lines.push(`link del ${cur.name}`);
      gone.add(cur.name);
      continue;
    }
    if (cur.mtu !== d.mtu) lines.push(`link set ${d.name} mtu ${d.mtu}`);
    if (cur.mac !== d.mac) lines.push(`link set ${d.name} address ${d.mac}`);
    for (const a of cur.addresses) if (!d.addresses.includes(a)) lines.push(`addr del ${a} dev ${d.name}`);
    for (const a of d.addresses) if (!cur.addresses.includes(a)) lines.push(addAddress(d, a));
    if (!cur.up) lines.push(`link set ${d.name} up`);
  }
  const kept = new Set(current.filter((c) => !gone.has(c.name)).map((c) => c.name));
  for (const d of desired) if (!kept.has(d.name)) lines.push(...createDevice(d));
  return { lines, gone };
}

function routeLine(verb: 'add' | 'replace' | 'del', r: Route): string {
  return `route ${verb} ${r.dst} via ${r.via} dev ${r.dev}${r.onlink ? ' onlink' : ''} proto ${RT_PROTO}`;
}

function sameRoute(a: Route, b: Route): boolean {
  return a.via === b.via && a.dev === b.dev && a.onlink === b.onlink;
}

/**
 * Kernel ops turning `current` into `desired`. `ownNames` are every device name kpr may
 * have made (both families), so a device of the other backend or a dropped family goes.
 */
export function diffNetwork(current: CurrentNetwork, desired: DesiredNetwork, ownNames: readonly string[]): NetworkOps {
  const dev = deviceOps(current.devices, desired.devices, ownNames);
  const alive = <T extends { dev: string }>(x: T) => !dev.gone.has(x.dev);
  const ip = [...dev.lines];
  const bridge: string[] = [];

  const curNeigh = new Map(current.neighbours.filter(alive).map((n) => [neighKey(n), n]));
  const wantNeigh = new Set(desired.neighbours.map(neighKey));
  for (const [key, n] of curNeigh) if (!wantNeigh.has(key)) ip.push(`neigh del ${n.ip} dev ${n.dev}`);
  for (const n of desired.neighbours) {
    const cur = curNeigh.get(neighKey(n));
    if (cur?.mac !== n.mac) ip.push(`neigh replace ${n.ip} lladdr ${n.mac} dev ${n.dev} nud permanent`);
  }

  // Routes on a device that goes are gone with it; the rest is matched by destination.
  const curRoutes = new Map(current.routes.filter(alive).map((r) => [routeKey(r), r]));
  const wantRoutes = new Set(desired.routes.map(routeKey));
  for (const [key, r] of curRoutes) if (!wantRoutes.has(key)) ip.push(routeLine('del', r));
  for (const r of desired.routes) {
    const cur = curRoutes.get(routeKey(r));
    // "add" where kpr has no route: a foreign route to the same destination makes it fail instead of being replaced.
    if (!cur) ip.push(routeLine('add', r));
    else if (!sameRoute(cur, r)) ip.push(routeLine('replace', r));
  }

  // A changed remote is appended before the old one goes, so the MAC is never without one.
  const curFdb = new Map<string, FdbEntry[]>();
  for (const f of current.fdb.filter(alive)) curFdb.set(fdbKey(f), [...(curFdb.get(fdbKey(f)) ?? []), f]);
  for (const f of desired.fdb) {
    const present = (curFdb.get(fdbKey(f)) ?? []).some((c) => c.dst === f.dst);
    if (!present) bridge.push(`fdb append ${f.mac} dev ${f.dev} dst ${f.dst} self permanent`);
  }
  const wantFdb = new Map(desired.fdb.map((f) => [fdbKey(f), f]));
  for (const [key, entries] of curFdb) {
    const want = wantFdb.get(key);
    for (const f of entries) {
      if (!want || f.dst !== want.dst) bridge.push(`fdb del ${f.mac} dev ${f.dev} dst ${f.dst} self`);
    }
  }
  return { ip, bridge };
}

/**
 * What the kernel holds after `desired` was programmed without error, in the form the
 * kernel is read into: a Node change is then diffed against it in memory (no kernel read,
 * whose cost grows with the cluster); periodic and post-failure reconciles read the kernel.
 */
export function asProgrammed(desired: DesiredNetwork): CurrentNetwork {
  return {
    devices: desired.devices.map((d) => ({
      name: d.name, vxlan: { vni: d.vni, port: d.port, local: d.local, link: d.link, learning: false },
      mtu: d.mtu, mac: d.mac, up: true, addresses: [...d.addresses],
    })),
    routes: desired.routes, neighbours: desired.neighbours, fdb: desired.fdb,
  };
}

/**
 * Kernel ops for a Node change: the changed peers' entries as last programmed (`before`)
 * against their new ones (`after`), the devices unchanged. NetworkPlanner.update gives both
 * over the peers whose claims the change touches, so this equals a full diff of the whole plan.
 */
export function diffPeers(devices: readonly VxlanDevice[], before: PeerEntries, after: PeerEntries): NetworkOps {
  const desired: DesiredNetwork = { devices: [...devices], ...after, skipped: [], peers: 0, podMTU: 0 };
  return diffNetwork({ devices: asProgrammed(desired).devices, ...before }, desired, devices.map((d) => d.name));
}
