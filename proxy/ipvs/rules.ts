// The fixed iptables rules of the IPVS mode: IPVS itself does the load balancing, and
// these rules only mark for masquerade, masquerade, filter source ranges and reject
// unknown ports of service addresses, matching the ipsets (upstream's layout). Every
// chain carries a KUBE-IPVS- prefix so that the IPVS mode and the iptables mode never
// own the same chain (upstream shares KUBE-SERVICES & co. between the two).
import { KprError } from '../../lib/errors.ts';
import { parseCIDR, type IPFamily } from '../../lib/ip.ts';
import type { LocalDetector, RulesConfig } from '../backend.ts';
import { iptablesComment } from '../naming.ts';
import { ipsetName, type IpsetId } from './ipset.ts';
import { ProxyError } from '../errors.ts';
import type { LbEntry } from './render.ts';

export const CHAINS = {
  nat: {
    services: 'KUBE-IPVS-SERVICES',
    postrouting: 'KUBE-IPVS-POSTROUTING',
    markMasq: 'KUBE-IPVS-MARK-MASQ',
    nodePort: 'KUBE-IPVS-NODE-PORT',
    loadBalancer: 'KUBE-IPVS-LOAD-BALANCER',
  },
  filter: {
    forward: 'KUBE-IPVS-FORWARD',
    nodePort: 'KUBE-IPVS-NODE-PORT',
    proxyFirewall: 'KUBE-IPVS-PROXY-FIREWALL',
    sourceRanges: 'KUBE-IPVS-SOURCE-RANGES',
    filter: 'KUBE-IPVS-FILTER',
    outFilter: 'KUBE-IPVS-OUT-FILTER',
  },
} as const;

export type Table = 'filter' | 'nat';

export interface Jump {
  table: Table;
  /** The built-in chain, e.g. PREROUTING. */
  from: string;
  to: string;
  comment: string;
}

export const JUMPS: readonly Jump[] = [
  { table: 'nat', from: 'OUTPUT', to: CHAINS.nat.services, comment: 'kubernetes service portals' },
  { table: 'nat', from: 'PREROUTING', to: CHAINS.nat.services, comment: 'kubernetes service portals' },
  { table: 'nat', from: 'POSTROUTING', to: CHAINS.nat.postrouting, comment: 'kubernetes postrouting rules' },
  { table: 'filter', from: 'FORWARD', to: CHAINS.filter.forward, comment: 'kubernetes forwarding rules' },
  { table: 'filter', from: 'INPUT', to: CHAINS.filter.nodePort, comment: 'kubernetes health check rules' },
  { table: 'filter', from: 'INPUT', to: CHAINS.filter.proxyFirewall, comment: 'kube-proxy firewall rules' },
  { table: 'filter', from: 'FORWARD', to: CHAINS.filter.proxyFirewall, comment: 'kube-proxy firewall rules' },
  { table: 'filter', from: 'INPUT', to: CHAINS.filter.filter, comment: 'kubernetes ipvs access filter' },
  { table: 'filter', from: 'OUTPUT', to: CHAINS.filter.outFilter, comment: 'kubernetes ipvs access filter' },
];

export interface IptablesRules {
  /** Per table: chains (declared, hence flushed, on every write) and their rules ("-A ..."). */
  filter: { chains: string[]; rules: string[] };
  nat: { chains: string[]; rules: string[] };
}

/** The match that selects traffic not from this node's pods (upstream's IfNotLocal). */
function notLocalMatch(d: LocalDetector, family: IPFamily): string | undefined {
  switch (d.mode) {
    case 'ClusterCIDR':
    case 'NodeCIDR': {
      const cidrs = d.cidrs.filter((c) => parseCIDR(c)?.family === family);
      if (cidrs.length > 1) {
        throw new ProxyError('IPVS_CONFIG', `local traffic detection by ${d.mode} supports one CIDR per family, got ${cidrs.join(', ')}`);
      }
      return cidrs[0] === undefined ? undefined : `! -s ${cidrs[0]}`;
    }
    case 'BridgeInterface': return `! -i ${d.interfaceName}`;
    case 'InterfaceNamePrefix': return `! -i ${d.prefix}+`;
    case 'None': return undefined;
  }
}

const EXTERNAL_IP = 'Kubernetes service external ip + port for masquerade and filter purpose';
const EXTERNAL_IP_LOCAL = 'Kubernetes service external ip + port with externalTrafficPolicy=local';

export interface IptablesOptions {
  /**
   * LB VIP ports whose source ranges leave out the node. IPVS rewrites the node's own
   * packets before filter OUTPUT sees them (and they never pass INPUT), so the firewall
   * sets cannot catch them; they carry the VIP as source, and the ipvs match still knows
   * the virtual server they were sent to.
   */
  lbNoNodeAccess?: readonly LbEntry[];
  /** MASQUERADE takes --random-fully (iptables 1.6.2 and later); default true. */
  randomFully?: boolean;
}

export function renderIptables(config: RulesConfig, opts: IptablesOptions = {}): IptablesRules {
  const { lbNoNodeAccess = [], randomFully = true } = opts;
  const family: IPFamily = config.family;
  const set = (id: IpsetId, dir: string) => `-m set --match-set ${ipsetName(id, family)} ${dir}`;
  const mark = config.masqueradeMark;
  const { nat: N, filter: F } = CHAINS;
  const loopback = family === 4 ? '127.0.0.0/8' : '::1/128';

  // ClusterIP traffic is masqueraded unless it comes from this node's pods; without a
  // detector only node-originated traffic with a VIP source (src,dst) is.
  let clusterMasq: string;
  const notLocal = notLocalMatch(config.localDetector, family);
  if (config.masqueradeAll) clusterMasq = `${set('clusterIP', 'dst,dst')} -j ${N.markMasq}`;
  else if (notLocal) clusterMasq = `${set('clusterIP', 'dst,dst')} ${notLocal} -j ${N.markMasq}`;
  else clusterMasq = `${set('clusterIP', 'src,dst')} -j ${N.markMasq}`;

  const nat = [
    `-A ${N.services} -s ${loopback} -j RETURN`,
    `-A ${N.services} -m comment --comment ${iptablesComment('Kubernetes service lb portal')} ${set('loadBalancer', 'dst,dst')} -j ${N.loadBalancer}`,
    `-A ${N.services} -m comment --comment ${iptablesComment('Kubernetes service cluster ip + port for masquerade purpose')} ${clusterMasq}`,
    `-A ${N.services} -m comment --comment ${iptablesComment(EXTERNAL_IP)} ${set('externalIP', 'dst,dst')} -j ${N.markMasq}`,
    // externalIP traffic ends the nat chain here: not from a pod bridge nor the node, or to
    // a local address (the VIP on kube-ipvs0), so that the NodePort rules below never see
    // it (an externalIP port that is also a NodePort would be masqueraded).
    ...([['externalIP', EXTERNAL_IP], ['externalIPLocal', EXTERNAL_IP_LOCAL]] as const).flatMap(([id, why]) => [
      `-A ${N.services} -m comment --comment ${iptablesComment(why)} ${set(id, 'dst,dst')} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`,
      `-A ${N.services} -m comment --comment ${iptablesComment(why)} ${set(id, 'dst,dst')} -m addrtype --dst-type LOCAL -j ACCEPT`,
    ]),
    `-A ${N.services} -m addrtype --dst-type LOCAL -j ${N.nodePort}`,
    // Accept service traffic here, in case later nat rules of others would rewrite it.
    `-A ${N.services} ${set('clusterIP', 'dst,dst')} -j ACCEPT`,
    `-A ${N.services} ${set('loadBalancer', 'dst,dst')} -j ACCEPT`,
    `-A ${N.loadBalancer} ${set('loadBalancerLocal', 'dst,dst')} -j RETURN`,
    `-A ${N.loadBalancer} -j ${N.markMasq}`,
    `-A ${N.nodePort} -p tcp ${set('nodePortLocalTCP', 'dst')} -j RETURN`,
    `-A ${N.nodePort} -p tcp ${set('nodePortTCP', 'dst')} -j ${N.markMasq}`,
    `-A ${N.nodePort} -p udp ${set('nodePortLocalUDP', 'dst')} -j RETURN`,
    `-A ${N.nodePort} -p udp ${set('nodePortUDP', 'dst')} -j ${N.markMasq}`,
    `-A ${N.nodePort} -p sctp ${set('nodePortLocalSCTP', 'dst,dst')} -j RETURN`,
    `-A ${N.nodePort} -p sctp ${set('nodePortSCTP', 'dst,dst')} -j ${N.markMasq}`,
    `-A ${N.postrouting} -m comment --comment ${iptablesComment('Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose')} ${set('loopBack', 'dst,dst,src')} -j MASQUERADE`,
    `-A ${N.postrouting} -m mark ! --mark ${mark}/${mark} -j RETURN`,
    `-A ${N.postrouting} -j MARK --xor-mark ${mark}`,
    `-A ${N.postrouting} -m comment --comment ${iptablesComment('kubernetes service traffic requiring SNAT')} -j MASQUERADE${randomFully ? ' --random-fully' : ''}`,
    `-A ${N.markMasq} -j MARK --or-mark ${mark}`,
  ];

  const filter = [
    ...(config.conntrackTCPLiberal ? [] : [`-A ${F.forward} -m conntrack --ctstate INVALID -j DROP`]),
    `-A ${F.forward} -m comment --comment ${iptablesComment('kubernetes forwarding rules')} -m mark --mark ${mark}/${mark} -j ACCEPT`,
    `-A ${F.forward} -m comment --comment ${iptablesComment('kubernetes forwarding conntrack rule')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `-A ${F.nodePort} -m comment --comment ${iptablesComment('Kubernetes health check node port')} ${set('healthCheckNodePort', 'dst')} -j ACCEPT`,
    `-A ${F.proxyFirewall} ${set('loadBalancerFW', 'dst,dst')} -j ${F.sourceRanges}`,
    `-A ${F.sourceRanges} ${set('loadBalancerSourceCIDR', 'dst,dst,src')} -j RETURN`,
    `-A ${F.sourceRanges} ${set('loadBalancerSourceIP', 'dst,dst,src')} -j RETURN`,
    `-A ${F.sourceRanges} -j DROP`,
    // Only the service ports of a service address answer (upstream issue #72236).
    `-A ${F.filter} ${set('loadBalancer', 'dst,dst')} -j RETURN`,
    `-A ${F.filter} ${set('clusterIP', 'dst,dst')} -j RETURN`,
    `-A ${F.filter} ${set('externalIP', 'dst,dst')} -j RETURN`,
    `-A ${F.filter} ${set('externalIPLocal', 'dst,dst')} -j RETURN`,
    `-A ${F.filter} ${set('healthCheckNodePort', 'dst')} -j RETURN`,
    `-A ${F.filter} -m conntrack --ctstate NEW ${set('ipvsIPs', 'dst')} -j REJECT`,
    ...lbNoNodeAccess.map((e) => `-A ${F.outFilter} -s ${e.ip} -m ipvs --vaddr ${e.ip} --vproto ${e.protocol} --vport ${e.port} -j DROP`),
  ];

  return {
    filter: { chains: Object.values(F).sort(), rules: filter },
    nat: { chains: Object.values(N).sort(), rules: nat },
  };
}

export function jumpRule(j: Jump): string {
  return `${j.from} -m comment --comment ${iptablesComment(j.comment)} -j ${j.to}`;
}

/** The jumps found in iptables-save output of one table, as "FROM -> TO" keys. */
export function existingJumps(save: string): Set<string> {
  const out = new Set<string>();
  for (const line of save.split('\n')) {
    const m = /^-A (\S+) .*-j (KUBE-IPVS-[A-Z-]+)\s*$/.exec(line);
    if (m) out.add(`${m[1]} -> ${m[2]}`);
  }
  return out;
}

/**
 * iptables-restore --noflush input: declares (and so flushes) every chain, inserts the
 * jumps from built-in chains that are missing, and writes the rules.
 */
export function restoreText(rules: IptablesRules, jumps: { filter: ReadonlySet<string>; nat: ReadonlySet<string> }): string {
  const out: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    out.push(`*${table}`);
    for (const c of rules[table].chains) out.push(`:${c} - [0:0]`);
    for (const j of JUMPS) {
      if (j.table === table && !jumps[table].has(`${j.from} -> ${j.to}`)) out.push(`-I ${jumpRule(j)}`);
    }
    out.push(...rules[table].rules, 'COMMIT');
  }
  return `${out.join('\n')}\n`;
}

/**
 * iptables-restore --noflush input removing the mode's jumps and chains found in the
 * saves ("" when there is nothing to remove); chains of others stay.
 */
export function cleanupText(saves: { filter: string; nat: string }): string {
  const out: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    const owned = new Set<string>(Object.values(CHAINS[table]));
    const lines = saves[table].split('\n');
    const present = lines.filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0] ?? '').filter((c) => owned.has(c)).sort();
    if (present.length === 0) continue;
    const unjump = lines
      .filter((l) => l.startsWith('-A '))
      .filter((l) => !owned.has(l.split(' ')[1] ?? '') && owned.has(/-j (\S+)/.exec(l)?.[1] ?? ''))
      .map((l) => `-D ${l.slice(3)}`);
    out.push(`*${table}`, ...present.map((c) => `:${c} - [0:0]`), ...unjump, ...present.map((c) => `-X ${c}`), 'COMMIT');
  }
  return out.length ? `${out.join('\n')}\n` : '';
}
