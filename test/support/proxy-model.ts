// The one builder of model objects for tests and benchmarks of every mode: a
// ServicePort, an endpoint, a snapshot and a RulesConfig, with upstream-like defaults
// that a test overrides where it matters.
import type { RulesConfig } from '../../proxy/backend.ts';
import type { Endpoint, NodeInfo, ProxySnapshot, ServicePort } from '../../proxy/model/types.ts';
import type { IPFamily } from '../../lib/ip.ts';

export const NODE: NodeInfo = { name: 'node-a', zone: '' };

/** A ServicePort of Service ns/name; its key and servicePortName follow the port name and protocol. */
export function servicePort(ns: string, name: string, over: Partial<ServicePort> = {}): ServicePort {
  const portName = over.portName ?? 'p80';
  const protocol = over.protocol ?? 'TCP';
  const spn = portName ? `${ns}/${name}:${portName}` : `${ns}/${name}`;
  return {
    key: `${spn}/${protocol}`,
    namespace: ns,
    name,
    portName,
    servicePortName: spn,
    protocol,
    clusterIP: '10.96.0.1',
    port: 80,
    nodePort: 0,
    externalIPs: [],
    loadBalancerVIPs: [],
    loadBalancerSourceRanges: [],
    affinityTimeoutSeconds: 0,
    externalPolicyLocal: false,
    internalPolicyLocal: false,
    healthCheckNodePort: 0,
    ...over,
  };
}

/** A ready, remote endpoint on port 8080 unless told otherwise. */
export function endpoint(ip: string, over: Partial<Endpoint> = {}): Endpoint {
  return { ip, port: 8080, isLocal: false, ready: true, serving: true, terminating: false, zoneHints: [], nodeHints: [], ...over };
}

/** A snapshot of the given ServicePorts with their endpoints (sorted as the model keeps them). */
export function snapshot(entries: ReadonlyArray<readonly [ServicePort, readonly Endpoint[]]>, family: IPFamily = 4): ProxySnapshot {
  const byIPPort = (a: Endpoint, b: Endpoint) => (`${a.ip}:${a.port}` < `${b.ip}:${b.port}` ? -1 : 1);
  return {
    family,
    node: NODE,
    services: new Map(entries.map(([sp]) => [sp.key, sp])),
    endpoints: new Map(entries.map(([sp, eps]) => [sp.key, [...eps].sort(byIPPort)])),
  };
}

export function rulesConfig(over: Partial<RulesConfig> = {}): RulesConfig {
  return {
    family: 4,
    masqueradeAll: false,
    masqueradeMark: '0x4000',
    localDetector: { mode: 'ClusterCIDR', cidrs: ['10.244.0.0/16'] },
    nodePortIPs: undefined,
    nodeIP: '192.168.0.2',
    localhostNodePorts: false,
    conntrackTCPLiberal: false,
    ...over,
  };
}
