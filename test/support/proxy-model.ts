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

/** A seeded permutation (mulberry32 + Fisher-Yates): a failing seed replays exactly. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  let s = seed >>> 0;
  const random = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** The same snapshot with its maps filled in another order (endpoint lists stay sorted: the model's contract). */
export function shuffledSnapshot(snap: ProxySnapshot, seed: number): ProxySnapshot {
  return {
    ...snap,
    services: new Map(shuffled([...snap.services], seed)),
    endpoints: new Map(shuffled([...snap.endpoints], seed + 1)),
  };
}
