// IPVS mode, read back: `ipvsadm -S -n` (parsed by proxy/ipvs/ipvsadm.ts) is the load
// balancing itself; the mode's ipsets (`ipset save`) tell each virtual server's kind
// and external policy and hold the LoadBalancer source ranges; the nat rule matching
// KUBE-CLUSTER-IP (`iptables-save -t nat`) says which ClusterIP traffic is masqueraded.
// IPVS has no names: the Service of a virtual server comes from the names file the
// IPVS mode writes next to the kernel (proxy/ipvs/names.ts).
import { ipFamily, type IPFamily } from '../../lib/ip.ts';
import { ipsetName, ownedIpsets, parseIpsetSave, type IpsetId } from '../ipvs/ipset.ts';
import { parseIpvsadmSave } from '../ipvs/ipvsadm.ts';
import { CHAINS } from '../ipvs/rules.ts';
import { vsKey } from '../ipvs/types.ts';
import { optionValue, parseIptablesSave, sourceCondition, target } from './iptables-save.ts';
import { canonicalAddress, sortedView, type Frontend, type Kind, type View } from './model.ts';

export interface IpvsListings {
  /** `ipvsadm -S -n` */
  ipvsadm: string;
  /** `ipset save`; "" when unavailable (kinds then default to ClusterIP). */
  ipset: string;
  /** `iptables-save -t nat` (or ip6tables-save) of the family; "" when unavailable. */
  nat: string;
  /** The family's names file: vsKey -> "ns/name:port"; absent when there is none. */
  names?: ReadonlyMap<string, string>;
}

/** Does `ipvsadm -S -n` list any virtual server of the family? */
export function hasIpvsServices(ipvsadm: string, family: IPFamily): boolean {
  return parseIpvsadmSave(ipvsadm).some((vs) => ipFamily(vs.address) === family);
}

/** The condition of the nat rule that marks ClusterIP traffic for masquerade. */
function clusterMasquerade(nat: string, family: IPFamily): string | undefined {
  const set = ipsetName('clusterIP', family);
  const rules = parseIptablesSave(nat).get('nat')?.get(CHAINS.nat.services) ?? [];
  const rule = rules.find((r) => target(r) === CHAINS.nat.markMasq && optionValue(r, '--match-set')?.startsWith(`${set} `));
  if (!rule) return rules.length ? 'none' : undefined;
  // "src,dst": only packets whose source is the VIP itself (the node talking to itself).
  if (optionValue(rule, '--match-set')?.endsWith(' src,dst')) return 'src = the ClusterIP';
  return sourceCondition(rule) || 'all';
}

export function parseIpvsView(l: IpvsListings, family: IPFamily): View {
  const names = ownedIpsets(family);
  const sets = parseIpsetSave(l.ipset, new Set(names.keys()));
  const has = (id: IpsetId, member: string) => sets.get(ipsetName(id, family))?.has(member) ?? false;
  const members = (id: IpsetId) => [...(sets.get(ipsetName(id, family)) ?? [])];
  const clusterMasq = clusterMasquerade(l.nat, family);

  const frontends: Frontend[] = [];
  for (const vs of parseIpvsadmSave(l.ipvsadm)) {
    if (ipFamily(vs.address) !== family) continue;
    const entry = `${vs.address},${vs.protocol}:${vs.port}`;
    const nodePortMember = vs.protocol === 'sctp' ? entry : String(vs.port);
    const nodePortSet = ({ tcp: ['nodePortTCP', 'nodePortLocalTCP'], udp: ['nodePortUDP', 'nodePortLocalUDP'], sctp: ['nodePortSCTP', 'nodePortLocalSCTP'] } as const)[vs.protocol];
    let kind: Kind = 'ClusterIP';
    let local = false;
    if (has('externalIP', entry) || has('externalIPLocal', entry)) [kind, local] = ['ExternalIP', has('externalIPLocal', entry)];
    else if (has('loadBalancer', entry)) [kind, local] = ['LoadBalancer', has('loadBalancerLocal', entry)];
    else if (!has('clusterIP', entry) && has(nodePortSet[0], nodePortMember)) [kind, local] = ['NodePort', has(nodePortSet[1], nodePortMember)];
    const service = l.names?.get(vsKey(vs));
    const f: Frontend = {
      protocol: vs.protocol,
      address: vs.address,
      port: vs.port,
      kind,
      ...(service ? { service } : {}),
      scheduler: vs.scheduler,
      backends: vs.realServers.map((rs) => ({ address: rs.address, port: rs.port, weight: rs.weight })),
    };
    if (kind !== 'ClusterIP') f.policy = local ? 'Local' : 'Cluster';
    const masq = kind === 'ClusterIP' ? clusterMasq : local ? 'none' : 'all';
    if (masq) f.masquerade = masq;
    if (vs.persistentTimeout > 0) f.affinitySeconds = vs.persistentTimeout;
    if (has('loadBalancerFW', entry)) {
      f.sourceRanges = [...members('loadBalancerSourceCIDR'), ...members('loadBalancerSourceIP')]
        .filter((m) => m.startsWith(`${entry},`))
        .map((m) => canonicalAddress(m.slice(entry.length + 1)));
    }
    // IPVS answers a virtual server without real servers with ICMP port unreachable.
    if (vs.realServers.length === 0) Object.assign(f, { verdict: 'REJECT', reason: 'no real servers' });
    frontends.push(f);
  }
  return sortedView({ mode: 'ipvs', family, frontends });
}
