// The backend-neutral model every proxy mode renders from: plain, immutable data,
// one view per IP family (as upstream runs one single-family proxier per family).
import type { IPFamily } from '../../lib/ip.ts';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

/** One port of one Service in one IP family: what upstream calls a ServicePort. */
export interface ServicePort {
  /** Unique key: `${servicePortName}/${protocol}`, e.g. "ns1/svc1:p80/TCP". */
  key: string;
  namespace: string;
  name: string;
  /** The port's name, "" when unnamed. */
  portName: string;
  /** Upstream's ServicePortName string: "ns/name:portName", or "ns/name" when unnamed. */
  servicePortName: string;
  protocol: Protocol;
  clusterIP: string;
  port: number;
  /** 0 when the Service has no NodePort. */
  nodePort: number;
  externalIPs: readonly string[];
  loadBalancerVIPs: readonly string[];
  loadBalancerSourceRanges: readonly string[];
  /** ClientIP affinity timeout in seconds; 0 means no affinity. */
  affinityTimeoutSeconds: number;
  externalPolicyLocal: boolean;
  internalPolicyLocal: boolean;
  /** 0 unless the Service is a LoadBalancer with externalTrafficPolicy Local. */
  healthCheckNodePort: number;
}

export interface Endpoint {
  ip: string;
  port: number;
  /** True when the endpoint runs on this node (nodeName equals the proxy's node). */
  isLocal: boolean;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  zoneHints: readonly string[];
  nodeHints: readonly string[];
}

/** This node as the proxy sees it. */
export interface NodeInfo {
  name: string;
  /** topology.kubernetes.io/zone, "" when unlabelled. */
  zone: string;
}

/** Everything a renderer needs for one IP family. */
export interface ProxySnapshot {
  family: IPFamily;
  node: NodeInfo;
  services: ReadonlyMap<string, ServicePort>;
  /** Endpoints per ServicePort key, sorted by "ip:port", without duplicates. */
  endpoints: ReadonlyMap<string, readonly Endpoint[]>;
}

export function endpointString(ep: Pick<Endpoint, 'ip' | 'port'>): string {
  return ep.ip.includes(':') ? `[${ep.ip}]:${ep.port}` : `${ep.ip}:${ep.port}`;
}

/** NodePort, externalIPs or LoadBalancer VIPs: reachable from outside the cluster. */
export function externallyAccessible(sp: ServicePort): boolean {
  return sp.nodePort !== 0 || sp.externalIPs.length > 0 || sp.loadBalancerVIPs.length > 0;
}

export function usesClusterEndpoints(sp: ServicePort): boolean {
  return !sp.internalPolicyLocal || externallyAccessible(sp);
}

export function usesLocalEndpoints(sp: ServicePort): boolean {
  return sp.internalPolicyLocal || (sp.externalPolicyLocal && externallyAccessible(sp));
}
