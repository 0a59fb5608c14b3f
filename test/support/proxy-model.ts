// Builders of model objects for the nftables tests and benchmark: a ServicePort,
// an endpoint, a snapshot and a RulesConfig with upstream-like defaults.
import type { RulesConfig } from '../../proxy/backend.ts';
import type { Endpoint, ProxySnapshot, ServicePort } from '../../proxy/model/types.ts';
import type { IPFamily } from '../../lib/ip.ts';

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
    clusterIP: '10.96.0.10',
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

export function endpoint(ip: string, port: number, over: Partial<Endpoint> = {}): Endpoint {
  return { ip, port, isLocal: false, ready: true, serving: true, terminating: false, zoneHints: [], nodeHints: [], ...over };
}

export function snapshot(family: IPFamily, entries: readonly [ServicePort, readonly Endpoint[]][]): ProxySnapshot {
  const byIPPort = (a: Endpoint, b: Endpoint) => (`${a.ip}:${a.port}` < `${b.ip}:${b.port}` ? -1 : 1);
  return {
    family,
    node: { name: 'node-a', zone: '' },
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
