// The names and shapes of kpr's nftables layout, chosen for programming speed (see
// README.md): per-Service state lives in map elements, never in per-Service chains
// (except ClientIP affinity), because the nft binary re-reads every chain and rule
// of the table on each call that adds a rule, and because every rule that binds a
// named map costs the kernel time proportional to the rules already bound.
import type { IPFamily } from '../../lib/ip.ts';
import { nftName } from '../naming.ts';
import type { Endpoint, ServicePort } from '../model/types.ts';
import type { NftFamily, SetSpec } from './transaction.ts';

export const TABLE = 'kpr';

/** Which endpoint list a dispatch uses: Cluster policy or Local policy. */
export type ListKind = 'cluster' | 'local';
/** How a frontend is keyed: by destination address . protocol . port, or (NodePorts) protocol . port. */
export type KeyKind = 'ip' | 'nodeport';

export interface FamilyWords {
  nft: NftFamily;
  /** The payload keyword: "ip" or "ip6". */
  ip: 'ip' | 'ip6';
  addrType: 'ipv4_addr' | 'ipv6_addr';
  loopback: string;
}

export function familyWords(family: IPFamily): FamilyWords {
  return family === 4
    ? { nft: 'ip', ip: 'ip', addrType: 'ipv4_addr', loopback: '127.0.0.0/8' }
    : { nft: 'ip6', ip: 'ip6', addrType: 'ipv6_addr', loopback: '::1' };
}

export const SET = {
  clusterIPs: 'cluster-ips',
  nodePortIPs: 'nodeport-ips',
  serviceCIDRs: 'service-cidrs',
  serviceIPs: 'service-ips',
  serviceNodePorts: 'service-nodeports',
  noEndpointServices: 'no-endpoint-services',
  noEndpointNodePorts: 'no-endpoint-nodeports',
  firewallIPs: 'firewall-ips',
  firewallAllow: 'firewall-allow',
  hairpin: 'hairpin',
} as const;

export const CHAIN = {
  services: 'services',
  masquerading: 'masquerading',
  markForMasquerade: 'mark-for-masquerade',
  reject: 'reject-chain',
  firewallCheck: 'firewall-check',
  serviceEndpointsCheck: 'service-endpoints-check',
  nodePortEndpointsCheck: 'nodeport-endpoints-check',
  clusterIPsCheck: 'cluster-ips-check',
} as const;

const prefixOf = (key: KeyKind) => (key === 'nodeport' ? 'nodeport-' : '');

/** Verdict map from a frontend to the DNAT chain (or affinity chain) of its endpoint list. */
export const dispatchMap = (key: KeyKind, list: ListKind) => `${prefixOf(key)}${list}-dispatch`;
export const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;
export type Proto = (typeof PROTOCOLS)[number];

/** Data map from frontend . slot to endpoint address . port; one per protocol (see endpointsMapSpec). */
export const endpointsMap = (key: KeyKind, list: ListKind, proto: Proto) => `${prefixOf(key)}${list}-endpoints-${proto}`;
/** The chain shared by every frontend of that protocol with `n` endpoints in that list. */
export const dnatChain = (key: KeyKind, list: ListKind, proto: Proto, n: number) => `dnat-${prefixOf(key)}${list}-${proto}-${n}`;
/** Fixed chain applying the masquerade policy of internal (ClusterIP) traffic. */
export const internalChain = (list: ListKind) => `internal-${list}`;
/** Fixed chain applying the masquerade policy of external traffic (externalIPs, LB IPs, NodePorts). */
export const externalChain = (key: KeyKind, list: ListKind) => (key === 'nodeport' ? `nodeport-${list}` : `external-${list}`);

/** The lookup key of a frontend, as nft writes it: "daddr . meta l4proto . th dport" or "meta l4proto . th dport". */
export function frontendExpr(w: FamilyWords, key: KeyKind): string {
  return key === 'ip' ? `${w.ip} daddr . meta l4proto . th dport` : 'meta l4proto . th dport';
}

/** The hairpin set's element for an endpoint IP: the pair source . destination of a pod reaching itself. */
export const hairpinKey = (ip: string) => `${ip} . ${ip}`;

/** The key of an endpoint map element: frontend . slot. */
export const slotKey = (frontend: string, slot: number) => `${frontend} . ${slot}`;

/**
 * An endpoint as endpoint map data, "ip . port": also its identity in a slot list,
 * so that slot lists are written out without any conversion.
 */
export const slotData = (ep: Pick<Endpoint, 'ip' | 'port'>) => `${ep.ip} . ${ep.port}`;

export function verdictMapSpec(w: FamilyWords, name: string, key: KeyKind): SetSpec {
  const k = key === 'ip' ? `${w.addrType} . inet_proto . inet_service` : 'inet_proto . inet_service';
  return { name, kind: 'map', type: `${k} : verdict` };
}

export function endpointsMapSpec(w: FamilyWords, name: string, key: KeyKind, proto: Proto): SetSpec {
  // `typeof` lets the slot be numgen's 32-bit integer (the modulus is irrelevant to the
  // type). The protocol is spelled out (`tcp dport`, not `th dport`) because nft 1.0.6
  // cannot add a rule against a map read back from the kernel with `th` in its typeof;
  // the data type then makes nft add `meta l4proto <proto>` to the DNAT rule, hence one
  // map (and DNAT chain) per protocol.
  const front = key === 'ip' ? `${w.ip} daddr . meta l4proto . ${proto} dport` : `meta l4proto . ${proto} dport`;
  return { name, kind: 'map', typeof: true, type: `${front} . numgen random mod 1 : ${w.ip} daddr . ${proto} dport` };
}

// Per-ServicePort objects, only for ClientIP affinity; named as upstream:
// <prefix>-<first 8 base32 chars of sha256(name)>-<name>, name = ns/svc/proto/port
// (nftName keeps any name a bare nft identifier).

function servicePortID(sp: ServicePort): string {
  return `${sp.namespace}/${sp.name}/${sp.protocol.toLowerCase()}/${sp.portName}`;
}

function endpointID(sp: ServicePort, ep: Endpoint): string {
  return `${servicePortID(sp)}__${ep.ip.replaceAll(':', '.')}/${ep.port}`;
}

export const affinityServiceChain = (sp: ServicePort, list: ListKind) => {
  const id = servicePortID(sp);
  return nftName(list === 'cluster' ? 'service' : 'local', id, id);
};
export const affinityEndpointChain = (sp: ServicePort, ep: Endpoint) => nftName('endpoint', endpointID(sp, ep), endpointID(sp, ep));
/** The timeout is part of the set's identity: a new timeout is a new set, so no set is ever redefined in place. */
export const affinitySet = (sp: ServicePort, ep: Endpoint) =>
  nftName('affinity', `${endpointID(sp, ep)}/${sp.affinityTimeoutSeconds}`, endpointID(sp, ep));
