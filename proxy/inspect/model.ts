// The mode-neutral view `kpr inspect` prints: what the kernel implements, read back
// from iptables, nftables or IPVS, as frontends (address, protocol, port) and the
// backends new connections are sent to. Every field is what the rules show; a field
// the rules do not carry (e.g. the Service name in IPVS mode) is left out.
import { compareIPs, normalizeIP, type IPFamily } from '../../lib/ip.ts';

export type Mode = 'iptables' | 'nftables' | 'ipvs';
export const MODES: readonly Mode[] = ['iptables', 'nftables', 'ipvs'];

export type Protocol = 'tcp' | 'udp' | 'sctp';

/**
 * What kind of Service address a frontend is. "External" is an externalIP or a
 * LoadBalancer IP where the rules do not tell the two apart.
 */
export type Kind = 'ClusterIP' | 'ExternalIP' | 'LoadBalancer' | 'External' | 'NodePort';
const KIND_ORDER: readonly Kind[] = ['ClusterIP', 'ExternalIP', 'LoadBalancer', 'External', 'NodePort'];

/** Live counters (`kpr inspect --stats`), from the conntrack table. */
export interface Stats {
  /** Connections in the table that are open (TCP/SCTP ESTABLISHED; any UDP entry). */
  active: number;
  /** Every connection in the table, closing ones included (TIME_WAIT...). */
  total: number;
  /** Both directions, when the kernel counts them (nf_conntrack_acct=1). */
  packets?: number;
  bytes?: number;
}

/** Per-second rates between two readings (`--rate`). */
export interface Rates {
  /** New connections per second. */
  connections: number;
  packets?: number;
  bytes?: number;
}

export interface Backend {
  address: string;
  port: number;
  /** Share of new connections (0..1) in iptables and nftables modes. */
  probability?: number;
  /** IPVS weight. */
  weight?: number;
  stats?: Stats;
  rates?: Rates;
}

export interface Frontend {
  protocol: Protocol;
  /** Destination address; "*" for a NodePort on every address that accepts NodePorts (View.nodePortAddresses). */
  address: string;
  port: number;
  kind: Kind;
  /** ns/name:port, when the rules name the Service. */
  service?: string;
  /** The traffic policy this frontend applies (internal for ClusterIPs, external otherwise). */
  policy?: 'Cluster' | 'Local';
  /** ClientIP session affinity timeout. */
  affinitySeconds?: number;
  /** Which new connections are masqueraded: "all", "none", or the condition (e.g. "src != 10.244.0.0/16"). */
  masquerade?: string;
  /** Sources allowed to reach a LoadBalancer IP; others are dropped. */
  sourceRanges?: string[];
  /** Set when new connections are refused (REJECT) or dropped (DROP) instead of balanced. */
  verdict?: 'REJECT' | 'DROP';
  /** Why, in the rules' words (e.g. "no endpoints", "no local endpoints"). */
  reason?: string;
  /** Where new connections go (for a Local policy: the local endpoints). */
  backends: Backend[];
  /**
   * Local external policy only: the cluster-wide endpoints that this node's pods and the
   * node itself reach instead (upstream's short-circuit), when they differ from `backends`.
   */
  shortCircuit?: Backend[];
  /** IPVS scheduler. */
  scheduler?: string;
  stats?: Stats;
  rates?: Rates;
}

export interface View {
  mode: Mode;
  family: IPFamily;
  /** Which addresses accept NodePorts ("*" frontends), as the rules say. */
  nodePortAddresses?: string;
  frontends: Frontend[];
  /**
   * What happens to new connections to these addresses (CIDRs, in order, first match
   * wins) that no frontend matches, where the rules say (nftables' cluster-ips-check).
   */
  unmatched?: { cidr: string; verdict: 'REJECT' | 'DROP'; reason: string }[];
}

/** The frontend's identity within one view. */
export function frontendKey(f: Pick<Frontend, 'protocol' | 'address' | 'port'>): string {
  return `${f.protocol}/${f.address}/${f.port}`;
}

/** An address from the rules ("10.96.0.10/32", "fd00::0a") in canonical form; other text (e.g. a /24) unchanged. */
export function canonicalAddress(s: string): string {
  const bare = s.replace(/\/(32|128)$/, '');
  return normalizeIP(bare) ?? s;
}

/** Probabilities rounded so that float noise from cascades does not show in JSON. */
export function roundShare(p: number): number {
  return Math.round(p * 1e6) / 1e6;
}

export function compareBackends(a: Backend, b: Backend): number {
  return compareIPs(a.address, b.address) || a.port - b.port;
}

function compareAddresses(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '*') return 1;
  if (b === '*') return -1;
  return compareIPs(a, b);
}

/** Groups a Service's frontends together: by Service name, kind, address, port, protocol. */
export function compareFrontends(a: Frontend, b: Frontend): number {
  const sa = a.service ?? '';
  const sb = b.service ?? '';
  if (sa !== sb) return sa < sb ? -1 : 1;
  return KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind)
    || compareAddresses(a.address, b.address)
    || a.port - b.port
    || (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0);
}

const FIELD_ORDER: readonly (keyof Frontend)[] = [
  'protocol', 'address', 'port', 'kind', 'service', 'policy', 'affinitySeconds', 'masquerade', 'sourceRanges',
  'verdict', 'reason', 'scheduler', 'stats', 'rates', 'backends', 'shortCircuit',
];

/** The same frontend with its fields in one order (stable JSON) and its backends sorted. */
function normalizeFrontend(f: Frontend): Frontend {
  const sorted: Frontend = { ...f, backends: [...f.backends].sort(compareBackends) };
  if (f.shortCircuit) sorted.shortCircuit = [...f.shortCircuit].sort(compareBackends);
  const out: Record<string, unknown> = {};
  for (const k of FIELD_ORDER) if (sorted[k] !== undefined) out[k] = sorted[k];
  return out as unknown as Frontend;
}

/** Frontends sorted, each normalized. */
export function sortedView(v: View): View {
  return { ...v, frontends: v.frontends.map(normalizeFrontend).sort(compareFrontends) };
}

/** Everything `kpr inspect` reports: which modes' objects it found, and a view per mode and family. */
export interface Inspection {
  found: { mode: Mode; where: string }[];
  /** With --rate: the seconds between the two readings the rates are over. */
  rateSeconds?: number;
  views: View[];
}
