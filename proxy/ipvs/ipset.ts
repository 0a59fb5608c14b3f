// The ipsets of the IPVS mode (upstream's names and types; IPv6 sets are "KUBE-6-..."),
// `ipset save` parsing and the `ipset restore -exist` text that moves the kernel's sets
// to the desired members.
import type { IPFamily } from '../../lib/ip.ts';

export type IpsetType = 'hash:ip' | 'hash:ip,port' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'bitmap:port';

export interface IpsetSpec {
  /** The IPv4 name; IPv6 uses ipsetName(). */
  name: string;
  type: IpsetType;
  comment: string;
}

const spec = (name: string, type: IpsetType, comment: string): IpsetSpec => ({ name, type, comment });

/** Every set the mode owns, in upstream's vocabulary. */
export const IPSETS = {
  loopBack: spec('KUBE-LOOP-BACK', 'hash:ip,port,ip', 'Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose'),
  clusterIP: spec('KUBE-CLUSTER-IP', 'hash:ip,port', 'Kubernetes service cluster ip + port for masquerade purpose'),
  externalIP: spec('KUBE-EXTERNAL-IP', 'hash:ip,port', 'Kubernetes service external ip + port for masquerade and filter purpose'),
  externalIPLocal: spec('KUBE-EXTERNAL-IP-LOCAL', 'hash:ip,port', 'Kubernetes service external ip + port with externalTrafficPolicy=local'),
  loadBalancer: spec('KUBE-LOAD-BALANCER', 'hash:ip,port', 'Kubernetes service lb portal'),
  loadBalancerLocal: spec('KUBE-LOAD-BALANCER-LOCAL', 'hash:ip,port', 'Kubernetes service load balancer ip + port with externalTrafficPolicy=local'),
  loadBalancerFW: spec('KUBE-LOAD-BALANCER-FW', 'hash:ip,port', 'Kubernetes service load balancer ip + port for load balancer with sourceRange'),
  loadBalancerSourceCIDR: spec('KUBE-LOAD-BALANCER-SOURCE-CIDR', 'hash:ip,port,net', 'Kubernetes service load balancer ip + port + source cidr for packet filter purpose'),
  loadBalancerSourceIP: spec('KUBE-LOAD-BALANCER-SOURCE-IP', 'hash:ip,port,ip', 'Kubernetes service load balancer ip + port + source IP for packet filter purpose'),
  nodePortTCP: spec('KUBE-NODE-PORT-TCP', 'bitmap:port', 'Kubernetes nodeport TCP port for masquerade purpose'),
  nodePortLocalTCP: spec('KUBE-NODE-PORT-LOCAL-TCP', 'bitmap:port', 'Kubernetes nodeport TCP port with externalTrafficPolicy=local'),
  nodePortUDP: spec('KUBE-NODE-PORT-UDP', 'bitmap:port', 'Kubernetes nodeport UDP port for masquerade purpose'),
  nodePortLocalUDP: spec('KUBE-NODE-PORT-LOCAL-UDP', 'bitmap:port', 'Kubernetes nodeport UDP port with externalTrafficPolicy=local'),
  nodePortSCTP: spec('KUBE-NODE-PORT-SCTP-HASH', 'hash:ip,port', 'Kubernetes nodeport SCTP port for masquerade purpose with type \'hash ip:port\''),
  nodePortLocalSCTP: spec('KUBE-NODE-PORT-LOCAL-SCTP-HASH', 'hash:ip,port', 'Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type \'hash ip:port\''),
  healthCheckNodePort: spec('KUBE-HEALTH-CHECK-NODE-PORT', 'bitmap:port', 'Kubernetes health check node port'),
  ipvsIPs: spec('KUBE-IPVS-IPS', 'hash:ip', 'IPVS service addresses bound to kube-ipvs0'),
} as const;

export type IpsetId = keyof typeof IPSETS;

/** Set names are at most 31 characters: two IPv6 names of upstream's scheme would exceed that. */
const SHORT_IPV6_NAMES: Partial<Record<IpsetId, string>> = {
  loadBalancerSourceCIDR: 'KUBE-6-LOAD-BALANCER-SRC-CIDR',
  nodePortLocalSCTP: 'KUBE-6-NODE-PORT-LOCAL-SCTP',
};

export function ipsetName(id: IpsetId, family: IPFamily): string {
  if (family === 4) return IPSETS[id].name;
  return SHORT_IPV6_NAMES[id] ?? IPSETS[id].name.replace(/^KUBE-/, 'KUBE-6-');
}

/** Desired or current members per set name. */
export type IpsetMembers = ReadonlyMap<string, ReadonlySet<string>>;

/** Set name -> spec, for one family. */
export function ownedIpsets(family: IPFamily): Map<string, IpsetSpec> {
  return new Map((Object.keys(IPSETS) as IpsetId[]).map((id) => [ipsetName(id, family), IPSETS[id]]));
}

function createLine(name: string, s: IpsetSpec, family: IPFamily): string {
  if (s.type === 'bitmap:port') return `create ${name} bitmap:port range 0-65535`;
  return `create ${name} ${s.type} family ${family === 4 ? 'inet' : 'inet6'} hashsize 1024 maxelem 65536`;
}

/**
 * ipset prints a full-length net ("a.b.c.d/32") without its prefix; members are kept
 * in that form so that rendered and listed members compare equal.
 */
export function canonicalMember(member: string): string {
  return member.replace(/\/(32|128)$/, '');
}

/** The members of the sets named in `owned` from `ipset save` (other sets are ignored). */
export function parseIpsetSave(text: string, owned: ReadonlySet<string>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const [verb, name, member] = line.trim().split(/\s+/);
    if (!name || !owned.has(name)) continue;
    if (verb === 'create') out.set(name, out.get(name) ?? new Set());
    else if (verb === 'add' && member) {
      const set = out.get(name) ?? new Set<string>();
      set.add(canonicalMember(member));
      out.set(name, set);
    }
  }
  return out;
}

export interface IpsetPlan {
  /** `ipset restore -exist` input ("" when nothing changes). */
  text: string;
  /** Sets created plus members added and deleted. */
  operations: number;
}

/** Creates missing sets, adds missing members and deletes stale ones. */
export function planIpsets(family: IPFamily, current: IpsetMembers, desired: IpsetMembers): IpsetPlan {
  const specs = ownedIpsets(family);
  const lines: string[] = [];
  for (const name of [...specs.keys()].sort()) {
    const want = desired.get(name) ?? new Set<string>();
    const have = current.get(name);
    if (!have) lines.push(createLine(name, specs.get(name) as IpsetSpec, family));
    for (const m of [...want].sort()) if (!have?.has(m)) lines.push(`add ${name} ${m}`);
    for (const m of [...(have ?? [])].sort()) if (!want.has(m)) lines.push(`del ${name} ${m}`);
  }
  return { text: lines.length ? `${lines.join('\n')}\n` : '', operations: lines.length };
}

/** `ipset restore` input destroying the existing sets of the mode ("" when none exists). */
export function planIpsetDestroy(current: IpsetMembers): string {
  return [...current.keys()].sort().map((name) => `destroy ${name}\n`).join('');
}
