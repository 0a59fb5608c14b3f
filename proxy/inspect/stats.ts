// Live counters for `kpr inspect --stats`, the same in every mode: the conntrack table
// (`conntrack -L -o id`) says which connections exist, whose original destination is
// a frontend and whose reply source (after DNAT) a backend. Packets and bytes come
// with the entries when the kernel counts them (nf_conntrack_acct). Pure.
import { canonicalAddress, type Backend, type Frontend, type Protocol, type Rates, type View } from './model.ts';

export interface ConntrackConnection {
  id?: number;
  protocol: Protocol;
  /** TCP/SCTP state (ESTABLISHED, TIME_WAIT...); undefined for UDP. */
  state?: string;
  src: string;
  dst: string;
  dport: number;
  /** Reply direction's source: the backend after DNAT (the original destination without). */
  replySrc: string;
  replySport: number;
  /** Both directions, when conntrack accounting is on. */
  packets?: number;
  bytes?: number;
}

const PROTOCOLS = new Set<string>(['tcp', 'udp', 'sctp']);

/** Parses `conntrack -L [-o id]` lines (one family); other protocols are skipped. */
export function parseConntrackList(text: string): ConntrackConnection[] {
  const out: ConntrackConnection[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    const protocol = words[0] ?? '';
    if (!PROTOCOLS.has(protocol)) continue;
    const state = /^[A-Z_]+$/.test(words[3] ?? '') ? words[3] : undefined;
    const fields: Record<string, string[]> = {};
    for (const w of words) {
      const eq = w.indexOf('=');
      if (eq > 0) (fields[w.slice(0, eq)] ??= []).push(w.slice(eq + 1));
    }
    const [src, replySrc] = fields.src ?? [];
    const [dst] = fields.dst ?? [];
    const dport = fields.dport?.[0];
    const replySport = fields.sport?.[1];
    if (!src || !replySrc || !dst || dport === undefined || replySport === undefined) continue;
    const c: ConntrackConnection = {
      protocol: protocol as Protocol,
      src: canonicalAddress(src),
      dst: canonicalAddress(dst),
      dport: Number(dport),
      replySrc: canonicalAddress(replySrc),
      replySport: Number(replySport),
    };
    if (state) c.state = state;
    if (fields.id) c.id = Number(fields.id[0]);
    if (fields.packets) c.packets = fields.packets.reduce((n, p) => n + Number(p), 0);
    if (fields.bytes) c.bytes = fields.bytes.reduce((n, b) => n + Number(b), 0);
    out.push(c);
  }
  return out;
}

/** A connection counts as active while TCP/SCTP says ESTABLISHED, and for UDP while it is in the table. */
const isActive = (c: ConntrackConnection) => c.state === undefined || c.state === 'ESTABLISHED';

const backendId = (address: string, port: number) => `${address}/${port}`;

/**
 * The frontend a connection went to: by original destination, protocol and port; a
 * "*" NodePort frontend takes DNATed connections to its port on any address whose
 * backend it holds.
 */
function frontendOf(c: ConntrackConnection, byKey: Map<string, Frontend>, nodePorts: Map<string, Frontend>): Frontend | undefined {
  const exact = byKey.get(`${c.protocol}/${c.dst}/${c.dport}`);
  if (exact) return exact;
  const np = nodePorts.get(`${c.protocol}/${c.dport}`);
  const id = backendId(c.replySrc, c.replySport);
  if (np && [...np.backends, ...(np.shortCircuit ?? [])].some((b) => backendId(b.address, b.port) === id)) return np;
  return undefined;
}

/**
 * Adds counters of kind `field` to every frontend and backend and lets `add` count
 * each connection into its frontend's and its backend's. A connection to a backend
 * the rules no longer list (it left, the connection stays) shows that backend with
 * its counters only.
 */
function tally<K extends 'stats' | 'rates'>(
  view: View, connections: readonly ConntrackConnection[], field: K,
  zero: () => NonNullable<Frontend[K]>, add: (into: NonNullable<Frontend[K]>, c: ConntrackConnection) => void,
): View {
  const frontends = view.frontends.map((f): Frontend => {
    // An endpoint in both lists (Local policy) is one backend: one set of counters.
    const shared = new Map<string, NonNullable<Frontend[K]>>();
    const counted = (b: Backend): Backend => {
      const id = backendId(b.address, b.port);
      if (!shared.has(id)) shared.set(id, zero());
      return { ...b, [field]: shared.get(id) };
    };
    return { ...f, [field]: zero(), backends: f.backends.map(counted), ...(f.shortCircuit ? { shortCircuit: f.shortCircuit.map(counted) } : {}) };
  });
  const byKey = new Map(frontends.filter((f) => f.address !== '*').map((f) => [`${f.protocol}/${f.address}/${f.port}`, f]));
  const nodePorts = new Map(frontends.filter((f) => f.address === '*').map((f) => [`${f.protocol}/${f.port}`, f]));
  for (const c of connections) {
    // Not DNATed: not a connection the Service rules balanced.
    if (c.replySrc === c.dst && c.replySport === c.dport) continue;
    const f = frontendOf(c, byKey, nodePorts);
    if (!f) continue;
    add(f[field] as NonNullable<Frontend[K]>, c);
    const id = backendId(c.replySrc, c.replySport);
    let b = [...f.backends, ...(f.shortCircuit ?? [])].find((x) => backendId(x.address, x.port) === id);
    if (!b) {
      b = { address: c.replySrc, port: c.replySport, [field]: zero() };
      f.backends.push(b);
    }
    add(b[field] as NonNullable<Frontend[K]>, c);
  }
  return { ...view, frontends };
}

/** The view with `stats` on every frontend and backend, counted from the connections in the table. */
export function withStats(view: View, connections: readonly ConntrackConnection[]): View {
  return tally(view, connections, 'stats', () => ({ active: 0, total: 0 }), (s, c) => {
    s.total += 1;
    if (isActive(c)) s.active += 1;
    if (c.packets !== undefined) s.packets = (s.packets ?? 0) + c.packets;
    if (c.bytes !== undefined) s.bytes = (s.bytes ?? 0) + c.bytes;
  });
}

/**
 * The view with `rates` per second between two readings `seconds` apart: connections
 * whose id the first reading lacks are new; packets and bytes are what each entry
 * gained (all of it for a new one).
 */
export function withRates(view: View, before: readonly ConntrackConnection[], after: readonly ConntrackConnection[], seconds: number): View {
  const prev = new Map(before.filter((c) => c.id !== undefined).map((c) => [c.id, c]));
  const round = (n: number) => Math.round((n / seconds) * 100) / 100;
  const counted = tally(view, after, 'rates', () => ({ connections: 0 }), (r, c) => {
    const old = c.id === undefined ? undefined : prev.get(c.id);
    if (!old) r.connections += 1;
    if (c.packets !== undefined) r.packets = (r.packets ?? 0) + c.packets - (old?.packets ?? 0);
    if (c.bytes !== undefined) r.bytes = (r.bytes ?? 0) + c.bytes - (old?.bytes ?? 0);
  });
  const perSecond = (r: Rates | undefined) => {
    if (!r) return;
    r.connections = round(r.connections);
    if (r.packets !== undefined) r.packets = round(r.packets);
    if (r.bytes !== undefined) r.bytes = round(r.bytes);
  };
  for (const f of counted.frontends) {
    perSecond(f.rates);
    // Shared objects (see tally) are divided once.
    new Set([...f.backends, ...(f.shortCircuit ?? [])].map((b) => b.rates)).forEach(perSecond);
  }
  return counted;
}
