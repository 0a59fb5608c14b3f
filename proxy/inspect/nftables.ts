// nftables mode, read back: `nft -j list table ip|ip6 kpr` -> the view. Follows kpr's
// own layout (proxy/nftables/README.md, layout.ts): frontends are elements of the
// service-ips / service-nodeports verdict maps, whose fixed policy chain (internal-*,
// external-*, nodeport-*) holds the masquerade rule and dispatches through
// [nodeport-]cluster|local-dispatch to a shared DNAT chain with `numgen random mod N`
// over the frontend's N slots in [nodeport-]cluster|local-endpoints-<proto>. ClientIP
// affinity uses upstream-style service-/local- and endpoint- chains instead.
import type { IPFamily } from '../../lib/ip.ts';
import { canonicalAddress, frontendKey, roundShare, sortedView, type Backend, type Frontend, type Kind, type Protocol, type View } from './model.ts';
import { conditions, findAll, parseNftListing, targets, type NftListing } from './nft-json.ts';
import { CHAIN, SET, dispatchMap, endpointsMap, type KeyKind, type ListKind, type Proto } from '../nftables/layout.ts';

/** "10.96.0.10 . tcp . 80" or "tcp . 30080" -> its parts. */
const parts = (key: string) => key.split(' . ');

interface Dispatch {
  backends: Backend[];
  affinitySeconds?: number;
  service?: string;
}

class Reader {
  constructor(private readonly l: NftListing) {}

  elements(name: string): Map<string, string> {
    return this.l.elements.get(name) ?? new Map();
  }

  /** The Service name a frontend element carries in its comment. */
  name(map: string, front: string): string | undefined {
    return this.l.comments.get(map)?.get(front);
  }

  rules(chain: string): unknown[][] {
    return this.l.rules.get(chain) ?? [];
  }

  /** Which new connections a policy chain masquerades: the rule jumping to mark-for-masquerade. */
  masquerade(chain: string): string {
    const rule = this.rules(chain).find((r) => targets(r).includes(CHAIN.markForMasquerade));
    return rule ? conditions(rule) || 'all' : 'none';
  }

  /** Whether a policy chain sends some sources (pods, the node) to another dispatch map. */
  usesMap(chain: string, map: string): boolean {
    return this.rules(chain).some((r) => findAll(r, 'data').includes(`@${map}`) || findAll(r, 'right').includes(`@${map}`));
  }

  /** The endpoints behind one frontend in one list (cluster or local). */
  dispatch(key: KeyKind, list: ListKind, front: string, proto: Protocol): Dispatch {
    const verdict = this.elements(dispatchMap(key, list)).get(front);
    const chain = verdict?.replace(/^(goto|jump) /, '');
    if (!chain) return { backends: [] };
    if (!chain.startsWith('dnat-')) return this.affinity(chain);
    const mod = findAll(this.rules(chain), 'numgen').map((n) => Number((n as { mod?: unknown }).mod))[0] ?? Number(/-(\d+)$/.exec(chain)?.[1]);
    const slots = this.elements(endpointsMap(key, list, proto as Proto));
    const byEndpoint = new Map<string, Backend>();
    for (let slot = 0; slot < mod; slot++) {
      const value = slots.get(`${front} . ${slot}`);
      if (!value) continue;
      const [address = '', port = ''] = parts(value);
      const id = `${address}/${port}`;
      const b = byEndpoint.get(id) ?? { address: canonicalAddress(address), port: Number(port), probability: 0 };
      b.probability = roundShare((b.probability ?? 0) + 1 / mod);
      byEndpoint.set(id, b);
    }
    return { backends: [...byEndpoint.values()] };
  }

  /** An affinity chain: `saddr @affinity-X goto endpoint-X` rules, then a numgen cascade of gotos. */
  private affinity(chain: string): Dispatch {
    const out: Dispatch = { backends: [] };
    const m = /^(?:service|local)-[A-Z0-9]{8}-(.+)\/(?:tcp|udp|sctp)\/(.+)$/.exec(chain);
    if (m) out.service = `${m[1]}:${m[2]}`;
    let remaining = 1;
    for (const rule of this.rules(chain)) {
      const sets = findAll(rule, 'right').filter((r): r is string => typeof r === 'string' && r.startsWith('@affinity-'));
      const timeout = sets.map((s) => this.l.timeouts.get(s.slice(1))).find((t) => t !== undefined);
      if (sets.length > 0) {
        if (timeout !== undefined) out.affinitySeconds = timeout;
        continue;
      }
      const to = targets(rule).find((t) => t.startsWith('endpoint-'));
      if (!to) continue;
      const mod = findAll(rule, 'numgen').map((n) => Number((n as { mod?: unknown }).mod))[0];
      const p = mod ? 1 / mod : 1;
      const dnat = findAll(this.rules(to), 'dnat')[0] as { addr?: unknown; port?: unknown } | undefined;
      if (dnat?.addr !== undefined) out.backends.push({ address: canonicalAddress(String(dnat.addr)), port: Number(dnat.port), probability: roundShare(remaining * p) });
      remaining *= 1 - p;
    }
    return out;
  }
}

function nodePortAddresses(r: Reader): string | undefined {
  const rule = r.rules(CHAIN.services).find((x) => findAll(x, 'data').includes(`@${SET.serviceNodePorts}`));
  if (!rule) return undefined;
  if (findAll(rule, 'right').includes(`@${SET.nodePortIPs}`)) return [...r.elements(SET.nodePortIPs).keys()].join(', ');
  const except = /dst != (\S+)/.exec(conditions(rule))?.[1];
  return except ? `local addresses except ${except}` : 'local addresses';
}

/** Parses `nft -j list table ip kpr` (or ip6) output. */
export function parseNftablesView(json: string, family: IPFamily): View {
  const r = new Reader(parseNftListing(json, `table ${family === 4 ? 'ip' : 'ip6'} kpr`));
  const clusterIPs = r.elements(SET.clusterIPs);
  const firewalled = r.elements(SET.firewallIPs);
  const allow = [...r.elements(SET.firewallAllow).keys()];
  const frontends = new Map<string, Frontend>();

  const ipKind = (front: string, internal: boolean): Kind => {
    if (internal) return 'ClusterIP';
    if (firewalled.has(front)) return 'LoadBalancer';
    return clusterIPs.has(parts(front)[0] ?? '') ? 'ClusterIP' : 'External';
  };
  const base = (key: KeyKind, front: string): Pick<Frontend, 'protocol' | 'address' | 'port'> => {
    const p = parts(front);
    return key === 'ip'
      ? { address: canonicalAddress(p[0] ?? ''), protocol: p[1] as Protocol, port: Number(p[2]) }
      : { address: '*', protocol: p[0] as Protocol, port: Number(p[1]) };
  };

  const balanced: [KeyKind, string][] = [['ip', SET.serviceIPs], ['nodeport', SET.serviceNodePorts]];
  for (const [key, map] of balanced) {
    for (const [front, verdict] of r.elements(map)) {
      const chain = verdict.replace(/^goto /, '');
      const list: ListKind = chain.endsWith('-local') ? 'local' : 'cluster';
      const f: Frontend = {
        ...base(key, front),
        kind: key === 'nodeport' ? 'NodePort' : ipKind(front, chain.startsWith('internal-')),
        policy: list === 'local' ? 'Local' : 'Cluster',
        masquerade: r.masquerade(chain),
        backends: [],
      };
      const main = r.dispatch(key, list, front, f.protocol);
      f.backends = main.backends;
      const service = r.name(map, front) ?? main.service;
      if (service) f.service = service;
      if (main.affinitySeconds) f.affinitySeconds = main.affinitySeconds;
      if (list === 'local' && !chain.startsWith('internal-') && r.usesMap(chain, dispatchMap(key, 'cluster'))) {
        const sc = r.dispatch(key, 'cluster', front, f.protocol);
        f.shortCircuit = sc.backends;
        f.service ??= sc.service;
        if (sc.affinitySeconds) f.affinitySeconds = sc.affinitySeconds;
      }
      if (firewalled.has(front)) f.sourceRanges = allow.filter((a) => a.startsWith(`${front} . `)).map((a) => parts(a)[3] ?? '');
      frontends.set(frontendKey(f), f);
    }
  }

  // REJECT when nothing serves the Service anywhere; DROP when only this node has nothing.
  const refused: [KeyKind, string][] = [['ip', SET.noEndpointServices], ['nodeport', SET.noEndpointNodePorts]];
  for (const [key, map] of refused) {
    for (const [front, verdict] of r.elements(map)) {
      const reject = verdict === `goto ${CHAIN.reject}`;
      const b = base(key, front);
      const prev = frontends.get(frontendKey(b));
      const service = r.name(map, front);
      frontends.set(frontendKey(b), {
        ...(prev ?? { ...b, kind: key === 'nodeport' ? 'NodePort' : ipKind(front, false), ...(service ? { service } : {}), backends: [] }),
        verdict: reject ? 'REJECT' : 'DROP',
        reason: reject ? 'no endpoints' : 'no local endpoints',
        ...(reject ? {} : { policy: 'Local' as const }),
      });
    }
  }
  const npa = nodePortAddresses(r);
  // cluster-ips-check: a ClusterIP on a port it does not serve is rejected, an unallocated address of a service CIDR dropped.
  const unmatched: NonNullable<View['unmatched']> = [
    ...[...clusterIPs.keys()].map((ip) => ({ cidr: canonicalAddress(ip), verdict: 'REJECT' as const, reason: `${CHAIN.clusterIPsCheck}: a ClusterIP, not on this port` })),
    ...[...r.elements(SET.serviceCIDRs).keys()].map((cidr) => ({ cidr, verdict: 'DROP' as const, reason: `${CHAIN.clusterIPsCheck}: an address of a service CIDR that no Service holds` })),
  ];
  return sortedView({ mode: 'nftables', family, ...(npa ? { nodePortAddresses: npa } : {}), frontends: [...frontends.values()], ...(unmatched.length ? { unmatched } : {}) });
}
