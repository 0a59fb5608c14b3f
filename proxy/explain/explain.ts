// Pure core of `kpr explain`: one new connection (protocol, source, destination, where
// it comes from) against the inspect view of the active mode (read back from the
// kernel's rules) -> which frontend matches, what its rules do with it, the backends it
// can reach with their shares, and for each whether the source is masqueraded and why.
import { cidrContains, parseCIDR, parseIP } from '../../lib/ip.ts';
import type { Backend, Frontend, Protocol, View } from '../inspect/model.ts';

/** Where the connection starts: a pod on this node, a host outside the cluster, or the node itself. */
export type Origin = 'pod' | 'external' | 'node';

export interface Packet {
  protocol: Protocol;
  src: string;
  dst: string;
  port: number;
  from: Origin;
}

export interface ExplainedBackend extends Backend {
  masquerade: boolean;
  /** Why the source is masqueraded or kept. */
  why: string;
}

export interface Explanation {
  packet: Packet;
  mode: View['mode'];
  /**
   * balanced: DNATed to one of `backends`; REJECT / DROP: refused or dropped by a rule;
   * local: no Service rule, the destination is this node (its own stack answers);
   * unrouted: no Service rule, routed as any other packet.
   */
  outcome: 'balanced' | 'REJECT' | 'DROP' | 'local' | 'unrouted';
  /** The rule or fact that decided, in words. */
  reason: string;
  /** The matched frontend, without its backend lists. */
  frontend?: Omit<Frontend, 'backends' | 'shortCircuit' | 'stats' | 'rates'>;
  backends?: ExplainedBackend[];
}

const contains = (cidr: string, ip: string) => {
  const c = parseCIDR(cidr.includes('/') ? cidr : `${cidr}/${cidr.includes(':') ? 128 : 32}`);
  const a = parseIP(ip);
  return c !== undefined && a !== undefined && cidrContains(c, a);
};

/** Does the NodePort address condition of the view admit `dst`? */
function nodePortAddress(view: View, dst: string, local: ReadonlySet<string>): boolean {
  const npa = view.nodePortAddresses;
  if (!npa) return false;
  const m = /^local addresses(?: except (\S+))?$/.exec(npa);
  if (m) return local.has(dst) && !(m[1] && contains(m[1], dst));
  return npa.split(', ').some((a) => contains(a, dst));
}

function matchFrontend(view: View, p: Packet, local: ReadonlySet<string>): Frontend | undefined {
  const same = (f: Frontend) => f.protocol === p.protocol && f.port === p.port;
  return view.frontends.find((f) => same(f) && f.address === p.dst)
    ?? (nodePortAddress(view, p.dst, local) ? view.frontends.find((f) => same(f) && f.address === '*') : undefined);
}

/**
 * Whether one masquerade condition of the view holds for the packet: "all", "none",
 * alternatives joined by "; ", each a conjunction of "src [!=] CIDR", "src-type [!=]
 * local", "in [!=] IFACE" (a pod interface), "src = the ClusterIP".
 */
export function conditionHolds(cond: string, p: Packet, f: Frontend): boolean {
  if (cond === 'all') return true;
  if (cond === 'none') return false;
  return cond.split('; ').some((alt) => alt.split(', ').every((atom) => {
    if (atom === 'src = the ClusterIP') return p.src === f.address;
    const m = /^(src|src-type|in) (!= )?(.+)$/.exec(atom);
    if (!m) return false;
    const [, what, not, value = ''] = m;
    const yes = what === 'src' ? contains(value.replace(/^\{ | \}$/g, ''), p.src) : what === 'src-type' ? p.from === 'node' && value === 'local' : p.from === 'pod';
    return not ? !yes : yes;
  }));
}

function explainBackends(list: readonly Backend[], f: Frontend, p: Packet): ExplainedBackend[] {
  const cond = f.masquerade ?? 'none';
  const byRule = conditionHolds(cond, p, f);
  return list.map((b) => {
    const { stats: _s, rates: _r, ...rest } = b;
    if (b.address === p.src) return { ...rest, masquerade: true, why: 'hairpin: the backend is the source itself' };
    if (byRule) return { ...rest, masquerade: true, why: `masquerade rule "${cond}" matches` };
    return { ...rest, masquerade: false, why: cond === 'none' ? 'no masquerade rule' : `masquerade rule "${cond}" does not match` };
  });
}

export function explain(view: View, p: Packet, localAddresses: ReadonlySet<string>): Explanation {
  const base = { packet: p, mode: view.mode };
  const f = matchFrontend(view, p, localAddresses);
  if (!f) {
    const rule = view.unmatched?.find((u) => contains(u.cidr, p.dst));
    if (rule) return { ...base, outcome: rule.verdict, reason: rule.reason };
    if (localAddresses.has(p.dst)) {
      return { ...base, outcome: 'local', reason: `no Service rule matches; ${p.dst} is this node's own address: its stack answers (refused unless a process listens on ${p.protocol}/${p.port})` };
    }
    return { ...base, outcome: 'unrouted', reason: 'no Service rule matches: routed as any other packet' };
  }
  const { backends, shortCircuit, stats: _s, rates: _r, ...frontend } = f;
  const out = { ...base, frontend };
  if (f.sourceRanges && !f.sourceRanges.some((r) => contains(r, p.src))) {
    return { ...out, outcome: 'DROP', reason: `source ${p.src} is not in loadBalancerSourceRanges (${f.sourceRanges.join(', ') || 'none'})` };
  }
  // Local external policy: pods and the node reach every endpoint instead (upstream's short-circuit).
  if (shortCircuit && p.from !== 'external') {
    return { ...out, outcome: 'balanced', reason: `${f.policy} policy; from ${p.from === 'pod' ? 'a pod' : 'the node'}: short-circuit to every endpoint of the cluster`, backends: explainBackends(shortCircuit, f, p) };
  }
  if (f.verdict) return { ...out, outcome: f.verdict, reason: f.reason ?? f.verdict };
  if (backends.length === 0) return { ...out, outcome: 'REJECT', reason: 'no backends' };
  const how = f.affinitySeconds ? `; ClientIP affinity ${f.affinitySeconds}s: a client stays with its first backend` : '';
  return { ...out, outcome: 'balanced', reason: `${f.policy ?? 'Cluster'} policy: ${f.policy === 'Local' ? 'endpoints on this node' : 'every endpoint'}${how}`, backends: explainBackends(backends, f, p) };
}
