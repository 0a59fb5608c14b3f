// Which UDP conntrack entries are stale after a sync (pure). UDP has no connection end,
// so a client keeps sending to an endpoint that is gone (or keeps being rejected after
// endpoints appeared) for as long as its conntrack entry lives. An entry is stale when
// its original destination is a Service address:port (or a NodePort on a node
// address) and its reply does not come from a serving endpoint of that Service —
// including Services now without any endpoint (kubernetes issue 139628) and removed
// ones. Staleness depends only on (destination, port, reply source).
import type { IPFamily } from '../../lib/ip.ts';
import type { ConntrackEntry } from './netlink-codec.ts';
import type { ProxySnapshot, ServicePort } from '../model/types.ts';

export interface UdpDestinations {
  /** "ip|port" of ClusterIPs, externalIPs and LB IPs -> serving endpoint IPs. */
  byAddress: Map<string, Set<string>>;
  /** NodePort -> serving endpoint IPs (matched on this node's addresses). */
  byNodePort: Map<number, Set<string>>;
}

/** Everything one cleanup of a family needs. */
export interface CleanupRequest {
  family: IPFamily;
  destinations: UdpDestinations;
  /** This node's addresses, for NodePort entries. */
  localAddresses: ReadonlySet<string>;
}

/**
 * Destinations of the current UDP ServicePorts with their serving endpoints, and of
 * removed ones with none (their entries are all stale), unless reused since.
 */
export function udpDestinations(snapshot: ProxySnapshot, removed: readonly ServicePort[] = []): UdpDestinations {
  const byAddress = new Map<string, Set<string>>();
  const byNodePort = new Map<number, Set<string>>();
  const add = (sp: ServicePort, serving: Set<string>) => {
    for (const ip of [sp.clusterIP, ...sp.externalIPs, ...sp.loadBalancerVIPs]) byAddress.set(`${ip}|${sp.port}`, serving);
    if (sp.nodePort) byNodePort.set(sp.nodePort, serving);
  };
  for (const sp of removed) if (sp.protocol === 'UDP') add(sp, new Set());
  for (const [key, sp] of snapshot.services) {
    if (sp.protocol !== 'UDP') continue;
    add(sp, new Set((snapshot.endpoints.get(key) ?? []).filter((e) => e.serving).map((e) => e.ip)));
  }
  return { byAddress, byNodePort };
}

export const hasDestinations = (d: UdpDestinations) => d.byAddress.size > 0 || d.byNodePort.size > 0;

/** Whether the entry leads a Service destination to something that is not a serving endpoint of it. */
export function isStale(e: ConntrackEntry, req: CleanupRequest): boolean {
  const { byAddress, byNodePort } = req.destinations;
  const serving = byAddress.get(`${e.dst}|${e.dport}`) ?? (req.localAddresses.has(e.dst) ? byNodePort.get(e.dport) : undefined);
  return serving !== undefined && !serving.has(e.replySrc);
}

export const staleEntries = (entries: readonly ConntrackEntry[], req: CleanupRequest) => entries.filter((e) => isStale(e, req));

/** Parses `conntrack -L -p udp` lines: the first tuple is the original direction, the second the reply. */
export function parseConntrack(text: string): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  for (const line of text.split('\n')) {
    const src = [...line.matchAll(/\bsrc=(\S+)/g)].map((m) => m[1] ?? '');
    const dst = [...line.matchAll(/\bdst=(\S+)/g)].map((m) => m[1] ?? '');
    const sport = /\bsport=(\d+)/.exec(line)?.[1];
    const dport = /\bdport=(\d+)/.exec(line)?.[1];
    if (src.length < 2 || dst.length < 1 || sport === undefined || dport === undefined) continue;
    const zone = /\bzone=(\d+)/.exec(line)?.[1];
    out.push({ proto: 17, src: src[0] ?? '', dst: dst[0] ?? '', sport: Number(sport), dport: Number(dport), replySrc: src[1] ?? '', zone: Number(zone ?? 0) });
  }
  return out;
}

/**
 * `conntrack -D` filters removing the stale entries without the ctnetlink addon: one
 * call per (destination, port, reply source), each of which walks the table.
 */
export function deleteFilters(stale: readonly ConntrackEntry[], family: IPFamily): string[][] {
  const groups = new Map<string, string[]>();
  for (const e of stale) {
    const key = `${e.dst}|${e.dport}|${e.replySrc}`;
    if (groups.has(key)) continue;
    groups.set(key, ['-D', '-p', 'udp', '-f', `ipv${family}`, '--orig-dst', e.dst, '--orig-port-dst', String(e.dport), '--reply-src', e.replySrc]);
  }
  return [...groups.values()];
}
