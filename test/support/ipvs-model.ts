// Builders of model data for the IPVS mode's tests (unit tests and the VM tests).
import type { IPFamily } from '../../lib/ip.ts';
import type { RulesConfig } from '../../proxy/backend.ts';
import type { Endpoint, NodeInfo, ProxySnapshot, ServicePort } from '../../proxy/model/types.ts';

export const NODE: NodeInfo = { name: 'node-a', zone: '' };

export function servicePort(name: string, over: Partial<ServicePort> = {}): ServicePort {
  const protocol = over.protocol ?? 'TCP';
  return {
    key: `ns/${name}:p/${protocol}`, namespace: 'ns', name, portName: 'p', servicePortName: `ns/${name}:p`, protocol,
    clusterIP: '10.96.0.1', port: 80, nodePort: 0, externalIPs: [], loadBalancerVIPs: [], loadBalancerSourceRanges: [],
    affinityTimeoutSeconds: 0, externalPolicyLocal: false, internalPolicyLocal: false, healthCheckNodePort: 0, ...over,
  };
}

export function endpoint(ip: string, over: Partial<Endpoint> = {}): Endpoint {
  return { ip, port: 8080, isLocal: false, ready: true, serving: true, terminating: false, zoneHints: [], nodeHints: [], ...over };
}

/** A snapshot of the given ServicePorts with their endpoints (sorted as the model keeps them). */
export function snapshot(entries: ReadonlyArray<readonly [ServicePort, readonly Endpoint[]]>, family: IPFamily = 4): ProxySnapshot {
  const byIpPort = (a: Endpoint, b: Endpoint) => (`${a.ip}:${a.port}` < `${b.ip}:${b.port}` ? -1 : 1);
  return {
    family,
    node: NODE,
    services: new Map(entries.map(([sp]) => [sp.key, sp])),
    endpoints: new Map(entries.map(([sp, eps]) => [sp.key, [...eps].sort(byIpPort)])),
  };
}

export function rulesConfig(over: Partial<RulesConfig> = {}): RulesConfig {
  return {
    family: 4, masqueradeAll: false, masqueradeMark: '0x4000',
    localDetector: { mode: 'ClusterCIDR', cidrs: ['10.244.0.0/16'] },
    nodePortIPs: undefined, nodeIP: '', localhostNodePorts: false, conntrackTCPLiberal: false, ...over,
  };
}
