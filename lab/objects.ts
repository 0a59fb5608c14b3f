// Builders for the Kubernetes objects of flow tests: plain API objects, exactly what
// the API server would hold, so the same cases run through every layer.
import { PODS, LOCAL_PODS, NODE_NAME, type PodName } from './topology.ts';

export type Obj = Record<string, unknown> & { kind: string; metadata: { name: string; namespace?: string } };

export const NS = 'flows';

export interface PortSpec {
  name?: string;
  port: number;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  nodePort?: number;
  targetPort: number;
}

export interface ServiceSpec {
  name: string;
  clusterIP: string;
  clusterIP6?: string;
  ports: PortSpec[];
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  externalIPs?: string[];
  lbIPs?: string[];
  sourceRanges?: string[];
  affinitySeconds?: number;
  externalTrafficPolicy?: 'Local' | 'Cluster';
  internalTrafficPolicy?: 'Local' | 'Cluster';
  healthCheckNodePort?: number;
  labels?: Record<string, string>;
}

export function service(s: ServiceSpec): Obj {
  const clusterIPs = s.clusterIP6 ? [s.clusterIP, s.clusterIP6] : [s.clusterIP];
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: NS, name: s.name, ...(s.labels ? { labels: s.labels } : {}) },
    spec: {
      type: s.type ?? 'ClusterIP',
      clusterIP: s.clusterIP,
      clusterIPs,
      ipFamilies: clusterIPs.map((ip) => (ip.includes(':') ? 'IPv6' : 'IPv4')),
      ports: s.ports.map((p) => ({ name: p.name ?? 'p', port: p.port, protocol: p.protocol ?? 'TCP', targetPort: p.targetPort, ...(p.nodePort ? { nodePort: p.nodePort } : {}) })),
      ...(s.externalIPs ? { externalIPs: s.externalIPs } : {}),
      ...(s.sourceRanges ? { loadBalancerSourceRanges: s.sourceRanges } : {}),
      ...(s.affinitySeconds ? { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: s.affinitySeconds } } } : {}),
      ...(s.externalTrafficPolicy ? { externalTrafficPolicy: s.externalTrafficPolicy } : {}),
      ...(s.internalTrafficPolicy ? { internalTrafficPolicy: s.internalTrafficPolicy } : {}),
      ...(s.healthCheckNodePort ? { healthCheckNodePort: s.healthCheckNodePort } : {}),
    },
    ...(s.lbIPs ? { status: { loadBalancer: { ingress: s.lbIPs.map((ip) => ({ ip })) } } } : {}),
  };
}

export interface EndpointSpec {
  pod: PodName;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  zoneHints?: string[];
}

/** One slice per family holding the given pods as endpoints of every port. */
export function slices(svc: string, ports: PortSpec[], eps: (PodName | EndpointSpec)[], families: (4 | 6)[] = [4, 6]): Obj[] {
  return families.map((family) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: NS, name: `${svc}-v${family}`, labels: { 'kubernetes.io/service-name': svc } },
    addressType: family === 4 ? 'IPv4' : 'IPv6',
    ports: ports.map((p) => ({ name: p.name ?? 'p', port: p.targetPort, protocol: p.protocol ?? 'TCP' })),
    endpoints: eps.map((e) => {
      const spec: EndpointSpec = typeof e === 'string' ? { pod: e } : e;
      const pod = PODS[spec.pod];
      return {
        addresses: [family === 4 ? pod.ip4 : pod.ip6],
        nodeName: LOCAL_PODS.includes(spec.pod) ? NODE_NAME : 'node-b',
        conditions: { ready: spec.ready ?? true, serving: spec.serving ?? spec.ready ?? true, terminating: spec.terminating ?? false },
        ...(spec.zoneHints ? { hints: { forZones: spec.zoneHints.map((name) => ({ name })) } } : {}),
      };
    }),
  }));
}
