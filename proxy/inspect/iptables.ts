// iptables mode, read back: `iptables-save` (nat and filter) -> the view. Follows the
// layout of proxy/iptables/render.ts (upstream's): KUBE-SERVICES / KUBE-NODEPORTS jump
// to KUBE-SVC (Cluster), KUBE-SVL (Local), KUBE-EXT (external policy) and KUBE-FW
// (source ranges); the probability cascade leads to KUBE-SEP chains and their DNAT.
// REJECT and DROP for Services without (local) endpoints live in filter.
import type { IPFamily } from '../../lib/ip.ts';
import { canonicalAddress, frontendKey, roundShare, sortedView, type Backend, type Frontend, type Kind, type Protocol, type View } from './model.ts';
import { comment, destination, option, optionValue, parseIptablesSave, sourceCondition, target, type Rule } from './iptables-save.ts';

const MARK_MASQ = 'KUBE-MARK-MASQ';

/** Does this iptables-save text hold the iptables mode's rules? */
export function hasIptablesMode(save: string): boolean {
  return parseIptablesSave(save).get('nat')?.has('KUBE-SERVICES') ?? false;
}

const KINDS: Record<string, Kind> = { 'cluster IP': 'ClusterIP', 'external IP': 'ExternalIP', 'loadbalancer IP': 'LoadBalancer' };

/** "ns/svc:port cluster IP" -> name and kind. */
function splitComment(text: string | undefined): { service?: string; kind?: Kind } {
  if (!text) return {};
  const m = /^(\S+) (cluster IP|external IP|loadbalancer IP)$/.exec(text);
  return m ? { service: m[1], kind: KINDS[m[2] ?? ''] } : { service: text.split(' ')[0] };
}

interface Dispatch {
  backends: Backend[];
  affinitySeconds?: number;
  masquerade?: string;
  service?: string;
}

class Reader {
  constructor(private readonly nat: Map<string, Rule[]>) {}

  rules(chain: string): Rule[] {
    return this.nat.get(chain) ?? [];
  }

  /** The endpoint a KUBE-SEP chain DNATs to. */
  endpoint(sep: string): { address: string; port: number } | undefined {
    for (const r of this.rules(sep)) {
      const to = optionValue(r, '--to-destination');
      const m = to ? /^\[?([^\]]+?)\]?:(\d+)$/.exec(to) : null;
      if (m) return { address: canonicalAddress(m[1] ?? ''), port: Number(m[2]) };
    }
    return undefined;
  }

  /** A KUBE-SVC / KUBE-SVL chain: masquerade rule, affinity, then the probability cascade. */
  dispatch(chain: string): Dispatch {
    const out: Dispatch = { backends: [] };
    let remaining = 1;
    for (const r of this.rules(chain)) {
      const to = target(r);
      if (!to) continue;
      if (to === MARK_MASQ) {
        out.masquerade = sourceCondition(r) || 'all';
        continue;
      }
      if (!to.startsWith('KUBE-SEP-')) continue;
      out.service ??= /^(\S+) -> /.exec(comment(r) ?? '')?.[1];
      if (option(r, '--rcheck')) {
        out.affinitySeconds = Number(optionValue(r, '--seconds'));
        continue;
      }
      const p = Number(optionValue(r, '--probability') ?? 1);
      const ep = this.endpoint(to);
      if (ep) out.backends.push({ ...ep, probability: roundShare(remaining * p) });
      remaining *= 1 - p;
    }
    out.masquerade ??= 'none';
    return out;
  }

  /** A KUBE-EXT chain: masquerading, the short-circuit of pods and the node, the policy chain. */
  external(chain: string): Partial<Frontend> & { backends: Backend[] } {
    const masq: string[] = [];
    let policyChain: string | undefined;
    let shortCircuit: string | undefined;
    for (const r of this.rules(chain)) {
      const to = target(r);
      const cond = sourceCondition(r);
      if (to === MARK_MASQ) masq.push(cond || 'all');
      else if (to?.startsWith('KUBE-SVC-') && cond) shortCircuit = to;
      else if (to && /^KUBE-SV[CL]-/.test(to) && !cond) policyChain = to;
    }
    const local = policyChain?.startsWith('KUBE-SVL-') || shortCircuit !== undefined;
    const main = policyChain ? this.dispatch(policyChain) : { backends: [] };
    const out: Partial<Frontend> & { backends: Backend[] } = {
      policy: local ? 'Local' : 'Cluster',
      masquerade: masq.join('; ') || 'none',
      backends: main.backends,
    };
    if (main.affinitySeconds) out.affinitySeconds = main.affinitySeconds;
    if (shortCircuit && shortCircuit !== policyChain) {
      const sc = this.dispatch(shortCircuit);
      out.shortCircuit = sc.backends;
      if (sc.affinitySeconds) out.affinitySeconds = sc.affinitySeconds;
    }
    return out;
  }

  /** A KUBE-FW chain: allowed source ranges, then the KUBE-EXT chain they lead to. */
  firewall(chain: string): Partial<Frontend> & { backends: Backend[] } {
    const ranges: string[] = [];
    let ext: string | undefined;
    for (const r of this.rules(chain)) {
      const to = target(r);
      const src = option(r, '-s', '--source');
      if (to?.startsWith('KUBE-EXT-') && src && !src.negated) {
        ranges.push(canonicalAddress(src.value));
        ext = to;
      }
    }
    return { ...(ext ? this.external(ext) : { backends: [] }), sourceRanges: ranges };
  }

  /** Whatever a KUBE-SERVICES / KUBE-NODEPORTS rule jumps to. */
  resolve(chain: string): Partial<Frontend> & { backends: Backend[] } {
    if (chain.startsWith('KUBE-FW-')) return this.firewall(chain);
    if (chain.startsWith('KUBE-EXT-')) return this.external(chain);
    const d = this.dispatch(chain);
    const out: Partial<Frontend> & { backends: Backend[] } = {
      policy: chain.startsWith('KUBE-SVL-') ? 'Local' : 'Cluster',
      masquerade: d.masquerade,
      backends: d.backends,
    };
    if (d.affinitySeconds) out.affinitySeconds = d.affinitySeconds;
    if (d.service) out.service = d.service;
    return out;
  }
}

function protocolOf(r: Rule): Protocol | undefined {
  const p = optionValue(r, '-p', '--protocol');
  return p === 'tcp' || p === 'udp' || p === 'sctp' ? p : undefined;
}

function nodePortAddresses(rules: readonly Rule[]): string | undefined {
  const tail = rules.filter((r) => target(r) === 'KUBE-NODEPORTS');
  if (tail.length === 0) return undefined;
  const listed = tail.map(destination).filter((d): d is string => d !== undefined);
  if (listed.length > 0) return listed.join(', ');
  const except = tail.map((r) => option(r, '-d', '--destination')).find((o) => o?.negated);
  return except ? `local addresses except ${except.value}` : 'local addresses';
}

/** Parses `iptables-save` (or `ip6tables-save`) output of the nat and filter tables. */
export function parseIptablesView(save: string, family: IPFamily): View {
  const tables = parseIptablesSave(save);
  const nat = tables.get('nat') ?? new Map<string, Rule[]>();
  const filter = tables.get('filter') ?? new Map<string, Rule[]>();
  const reader = new Reader(nat);
  const frontends = new Map<string, Frontend>();
  const put = (f: Frontend) => {
    const key = frontendKey(f);
    const prev = frontends.get(key);
    // A filter verdict and a nat path for one frontend (Local policy, no local endpoint).
    frontends.set(key, prev ? { ...prev, ...f, backends: prev.backends.length ? prev.backends : f.backends, kind: prev.kind } : f);
  };

  const natEntries: [Rule, 'services' | 'nodeports'][] = [
    ...(nat.get('KUBE-SERVICES') ?? []).map((r) => [r, 'services'] as [Rule, 'services']),
    ...(nat.get('KUBE-NODEPORTS') ?? []).map((r) => [r, 'nodeports'] as [Rule, 'nodeports']),
  ];
  for (const [r, from] of natEntries) {
    const to = target(r);
    const protocol = protocolOf(r);
    const port = Number(optionValue(r, '--dport'));
    if (!to || !protocol || !/^KUBE-(SVC|SVL|EXT|FW)-/.test(to)) continue;
    // Upstream's rule counting NodePort packets on 127.0.0.1 (nfacct) precedes the NodePort's own rule.
    if (from === 'nodeports' && optionValue(r, '--nfacct-name') !== undefined) continue;
    const named = splitComment(comment(r));
    const address = from === 'nodeports' ? (destination(r) ?? '*') : destination(r);
    if (!address) continue;
    const kind: Kind = from === 'nodeports' ? 'NodePort' : named.kind ?? (to.startsWith('KUBE-FW-') ? 'LoadBalancer' : to.startsWith('KUBE-EXT-') ? 'External' : 'ClusterIP');
    const resolved = reader.resolve(to);
    put({ ...resolved, protocol, address, port, kind, ...(named.service ?? resolved.service ? { service: named.service ?? resolved.service } : {}) });
  }

  // Filter: REJECT (no endpoints) and DROP (no local endpoints) for ClusterIPs in
  // KUBE-SERVICES, for external addresses and NodePorts in KUBE-EXTERNAL-SERVICES.
  for (const chain of ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES']) {
    for (const r of filter.get(chain) ?? []) {
      const verdict = target(r);
      const protocol = protocolOf(r);
      if ((verdict !== 'REJECT' && verdict !== 'DROP') || !protocol) continue;
      const m = /^(\S+) has (no (?:local )?endpoints)$/.exec(comment(r) ?? '');
      const dst = destination(r);
      const nodePort = optionValue(r, '--dst-type') === 'LOCAL' && !dst;
      const address = dst ?? (nodePort ? '*' : undefined);
      if (!address) continue;
      const kind: Kind = nodePort ? 'NodePort' : chain === 'KUBE-SERVICES' ? 'ClusterIP' : 'External';
      const f: Frontend = { protocol, address, port: Number(optionValue(r, '--dport')), kind, verdict, backends: [] };
      if (m) Object.assign(f, { service: m[1], reason: m[2] });
      if (verdict === 'DROP' && m?.[2] === 'no local endpoints') f.policy = 'Local';
      put(f);
    }
  }
  const npa = nodePortAddresses(nat.get('KUBE-SERVICES') ?? []);
  return sortedView({ mode: 'iptables', family, ...(npa ? { nodePortAddresses: npa } : {}), frontends: [...frontends.values()] });
}
