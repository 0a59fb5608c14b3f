// The flow table: Services and EndpointSlices of one cluster, and for each
// (source, destination, protocol) what must happen — which backends answer and whether
// they see the client's own address, or REJECT, or DROP. Every proxy mode runs the
// same table with real packets; a row states where a mode differs.
import type { ProxyMode } from '../proxy/backend.ts';
import { NODE_IP, type ExternalName, type PodName } from './topology.ts';
import { service, slices, type Obj, type PortSpec } from './objects.ts';

export type Source = PodName | ExternalName | 'node';

export type Expectation =
  /** Every listed backend answers (over repeated probes) and no other; `masq`: the backend sees another source address than the client's. */
  | { reach: PodName[]; masq: boolean; sticky?: boolean }
  /** Refused: TCP reset or ICMP unreachable, reported as ECONNREFUSED. */
  | { blocked: 'REJECT' }
  /** Silently dropped by a proxy rule: the probe times out. */
  | { blocked: 'DROP' }
  /**
   * No proxy rule matches: the packet is routed as any other, out by the node's default
   * route; the gateway there answers "network unreachable" (ENETUNREACH, see GATEWAY_IP
   * in topology.ts), which tells it from a DROP or a REJECT by a proxy rule.
   */
  | { blocked: 'UNROUTED' };

export interface Flow {
  name: string;
  from: Source;
  family: 4 | 6;
  proto: 'tcp' | 'udp';
  to: { ip: string; port: number };
  expect: Expectation;
  /** Where a mode behaves differently, and why (see the mode's README). */
  modes?: Partial<Record<ProxyMode, Expectation>>;
}

const tcp = (port: number, extra: Partial<PortSpec> = {}): PortSpec => ({ port, targetPort: 8080, ...extra });
const udp = (port: number): PortSpec => ({ name: 'dns', port, protocol: 'UDP', targetPort: 5353 });

const web = [tcp(80), udp(53)];
const lbPorts = [tcp(80, { nodePort: 30060 })];

export const OBJECTS: Obj[] = [
  // The service CIDRs (kube-apiserver's MultiCIDRServiceAllocator): nftables mode drops their unallocated addresses.
  { apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name: 'kubernetes' }, spec: { cidrs: ['10.96.0.0/16', 'fd00:96::/112'] } },
  service({ name: 'web', clusterIP: '10.96.0.10', clusterIP6: 'fd00:96::10', ports: web }),
  ...slices('web', web, ['s1', 's2', 'r1']),
  service({ name: 'empty', clusterIP: '10.96.0.20', clusterIP6: 'fd00:96::20', ports: web }),
  service({ name: 'np', type: 'NodePort', clusterIP: '10.96.0.30', clusterIP6: 'fd00:96::30', ports: [tcp(80, { nodePort: 30080 })] }),
  ...slices('np', [tcp(80)], ['r1']),
  service({ name: 'nplocal', type: 'NodePort', externalTrafficPolicy: 'Local', clusterIP: '10.96.0.31', clusterIP6: 'fd00:96::31', ports: [tcp(80, { nodePort: 30081 })] }),
  ...slices('nplocal', [tcp(80)], ['s1', 'r1']),
  service({ name: 'nplocalnone', type: 'NodePort', externalTrafficPolicy: 'Local', clusterIP: '10.96.0.32', clusterIP6: 'fd00:96::32', ports: [tcp(80, { nodePort: 30082 })] }),
  ...slices('nplocalnone', [tcp(80)], ['r2']),
  service({ name: 'itplocal', internalTrafficPolicy: 'Local', clusterIP: '10.96.0.40', clusterIP6: 'fd00:96::40', ports: [tcp(80)] }),
  ...slices('itplocal', [tcp(80)], ['r1']),
  service({ name: 'itplocalok', internalTrafficPolicy: 'Local', clusterIP: '10.96.0.41', clusterIP6: 'fd00:96::41', ports: [tcp(80)] }),
  ...slices('itplocalok', [tcp(80)], ['s2', 'r1']),
  service({ name: 'extip', clusterIP: '10.96.0.50', clusterIP6: 'fd00:96::50', externalIPs: ['198.51.100.10', 'fd00:198::10'], ports: [tcp(80)] }),
  ...slices('extip', [tcp(80)], ['s2']),
  // An externalIP on a port that is also a NodePort (np's): its traffic is not a NodePort's.
  service({
    name: 'extiplocal', type: 'NodePort', externalTrafficPolicy: 'Local', clusterIP: '10.96.0.51', clusterIP6: 'fd00:96::51',
    externalIPs: ['198.51.100.11', 'fd00:198::11'], ports: [tcp(30080, { nodePort: 30083 })],
  }),
  ...slices('extiplocal', [tcp(30080)], ['s2']),
  service({
    name: 'lb', type: 'LoadBalancer', clusterIP: '10.96.0.60', clusterIP6: 'fd00:96::60', ports: lbPorts,
    lbIPs: ['198.51.100.20', 'fd00:198::20'], sourceRanges: ['192.0.2.20/32', 'fd00:192::20/128'],
  }),
  ...slices('lb', lbPorts, ['s1']),
  service({
    name: 'lblocal', type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, clusterIP: '10.96.0.61', clusterIP6: 'fd00:96::61',
    ports: [tcp(80, { nodePort: 30061 })], lbIPs: ['198.51.100.30', 'fd00:198::30'],
  }),
  ...slices('lblocal', [tcp(80)], ['s1', 'r1']),
  // A load-balancer IP that is the node's own address, with source ranges, on a port
  // that is a health-check node port: the firewall must drop before that port is accepted.
  service({
    name: 'lbnode', type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32001, clusterIP: '10.96.0.62', clusterIP6: 'fd00:96::62',
    ports: [{ port: 32001, targetPort: 8080, nodePort: 30062 }], lbIPs: [NODE_IP.ip4, NODE_IP.ip6], sourceRanges: ['192.0.2.20/32', 'fd00:192::20/128'],
  }),
  ...slices('lbnode', [tcp(32001)], ['s1']),
  service({ name: 'sticky', clusterIP: '10.96.0.70', clusterIP6: 'fd00:96::70', affinitySeconds: 60, ports: [tcp(80)] }),
  ...slices('sticky', [tcp(80)], ['s1', 's2']),
  service({ name: 'term', clusterIP: '10.96.0.80', clusterIP6: 'fd00:96::80', ports: [tcp(80)] }),
  ...slices('term', [tcp(80)], ['s1', { pod: 's2', ready: false, serving: true, terminating: true }]),
  service({ name: 'termonly', clusterIP: '10.96.0.81', clusterIP6: 'fd00:96::81', ports: [tcp(80)] }),
  ...slices('termonly', [tcp(80)], [
    { pod: 's1', ready: false, serving: false, terminating: true },
    { pod: 's2', ready: false, serving: true, terminating: true },
  ]),
  service({ name: 'hairpin', clusterIP: '10.96.0.90', clusterIP6: 'fd00:96::90', ports: [tcp(80)] }),
  ...slices('hairpin', [tcp(80)], ['s1']),
  service({ name: 'zonal', clusterIP: '10.96.0.100', clusterIP6: 'fd00:96::100', ports: [tcp(80)] }),
  ...slices('zonal', [tcp(80)], [{ pod: 's1', zoneHints: ['zone-a'] }, { pod: 'r1', zoneHints: ['zone-b'] }]),
  // SCTP: programmed by every mode (the rules load), but this kernel has no SCTP
  // sockets, so no flow sends SCTP packets (the IPVS VM's kernel does not either).
  service({ name: 'sctp', clusterIP: '10.96.0.120', clusterIP6: 'fd00:96::120', ports: [{ name: 'p', port: 80, protocol: 'SCTP', targetPort: 8080 }] }),
  ...slices('sctp', [{ name: 'p', port: 80, protocol: 'SCTP', targetPort: 8080 }], ['s1']),
  service({ name: 'otherproxy', clusterIP: '10.96.0.110', clusterIP6: 'fd00:96::110', ports: [tcp(80)], labels: { 'service.kubernetes.io/service-proxy-name': 'someone-else' } }),
  ...slices('otherproxy', [tcp(80)], ['s1']),
];

type Row = Omit<Flow, 'family' | 'to'> & { to: { ip4: string; ip6: string; port: number }; families?: (4 | 6)[] };

const v = (ip4: string, ip6: string, port: number) => ({ ip4, ip6, port });
const node = (port: number) => v(NODE_IP.ip4, NODE_IP.ip6, port);

const ROWS: Row[] = [
  { name: 'pod to ClusterIP reaches every endpoint, source kept', from: 'client', proto: 'tcp', to: v('10.96.0.10', 'fd00:96::10', 80), expect: { reach: ['s1', 's2', 'r1'], masq: false } },
  { name: 'pod to ClusterIP over UDP', from: 'client', proto: 'udp', to: v('10.96.0.10', 'fd00:96::10', 53), expect: { reach: ['s1', 's2', 'r1'], masq: false } },
  { name: 'node to ClusterIP is masqueraded', from: 'node', proto: 'tcp', to: v('10.96.0.10', 'fd00:96::10', 80), expect: { reach: ['s1', 's2', 'r1'], masq: true } },
  { name: 'off-cluster source to ClusterIP is masqueraded', from: 'ext', proto: 'tcp', to: v('10.96.0.10', 'fd00:96::10', 80), expect: { reach: ['s1', 's2', 'r1'], masq: true } },
  {
    name: 'unknown port of a ClusterIP', from: 'client', proto: 'tcp', to: v('10.96.0.10', 'fd00:96::10', 81), expect: { blocked: 'UNROUTED' },
    // nftables: cluster-ips-check; IPVS: the ClusterIP is local on kube-ipvs0 and
    // KUBE-IPVS-FILTER rejects ports without a virtual server (upstream issue 72236).
    modes: { nftables: { blocked: 'REJECT' }, ipvs: { blocked: 'REJECT' } },
  },
  { name: 'Service without endpoints is rejected (TCP)', from: 'client', proto: 'tcp', to: v('10.96.0.20', 'fd00:96::20', 80), expect: { blocked: 'REJECT' } },
  { name: 'Service without endpoints is rejected (UDP)', from: 'client', proto: 'udp', to: v('10.96.0.20', 'fd00:96::20', 53), expect: { blocked: 'REJECT' } },
  { name: 'NodePort from outside, Cluster policy: masqueraded', from: 'ext', proto: 'tcp', to: node(30080), expect: { reach: ['r1'], masq: true } },
  {
    name: 'NodePort on 127.0.0.1 from the node (localhost NodePorts)', from: 'node', proto: 'tcp', to: v('127.0.0.1', '::1', 30080), families: [4], expect: { reach: ['r1'], masq: true },
    // Upstream supports localhost NodePorts in iptables mode only; elsewhere nothing listens there.
    modes: { nftables: { blocked: 'REJECT' }, ipvs: { blocked: 'REJECT' } },
  },
  { name: 'NodePort from a pod, Cluster policy', from: 'client', proto: 'tcp', to: node(30080), expect: { reach: ['r1'], masq: true } },
  { name: 'NodePort from outside, Local policy: local endpoint, source kept', from: 'ext', proto: 'tcp', to: node(30081), expect: { reach: ['s1'], masq: false } },
  {
    name: 'NodePort from a pod, Local policy: short-circuit to all endpoints', from: 'client', proto: 'tcp', to: node(30081), expect: { reach: ['s1', 'r1'], masq: false },
    // IPVS: one virtual server for every source, holding only the local endpoints.
    modes: { ipvs: { reach: ['s1'], masq: false } },
  },
  {
    name: 'NodePort from the node, Local policy: all endpoints, masqueraded', from: 'node', proto: 'tcp', to: node(30081), expect: { reach: ['s1', 'r1'], masq: true },
    // IPVS: the same virtual server as external traffic, and the Local NodePort set returns before the masquerade mark.
    modes: { ipvs: { reach: ['s1'], masq: false } },
  },
  {
    name: 'NodePort from outside, Local policy, no local endpoint: dropped', from: 'ext', proto: 'tcp', to: node(30082), expect: { blocked: 'DROP' },
    // Upstream IPVS falls back to the cluster endpoints when none is local (PR 97081).
    modes: { ipvs: { reach: ['r2'], masq: false } },
  },
  { name: 'NodePort from a pod, Local policy, no local endpoint: short-circuit', from: 'client', proto: 'tcp', to: node(30082), expect: { reach: ['r2'], masq: false } },
  {
    name: 'internalTrafficPolicy Local without local endpoint: dropped', from: 'client', proto: 'tcp', to: v('10.96.0.40', 'fd00:96::40', 80), expect: { blocked: 'DROP' },
    // IPVS: the virtual server exists without real servers and answers with ICMP port unreachable.
    modes: { ipvs: { blocked: 'REJECT' } },
  },
  { name: 'internalTrafficPolicy Local: local endpoints only', from: 'client', proto: 'tcp', to: v('10.96.0.41', 'fd00:96::41', 80), expect: { reach: ['s2'], masq: false } },
  { name: 'externalIP from outside', from: 'ext', proto: 'tcp', to: v('198.51.100.10', 'fd00:198::10', 80), expect: { reach: ['s2'], masq: true } },
  { name: 'LoadBalancer IP from an allowed source', from: 'extAllowed', proto: 'tcp', to: v('198.51.100.20', 'fd00:198::20', 80), expect: { reach: ['s1'], masq: true } },
  { name: 'LoadBalancer IP from a source outside loadBalancerSourceRanges: dropped', from: 'ext', proto: 'tcp', to: v('198.51.100.20', 'fd00:198::20', 80), expect: { blocked: 'DROP' } },
  { name: 'node to a LoadBalancer IP, node outside loadBalancerSourceRanges: dropped', from: 'node', proto: 'tcp', to: v('198.51.100.20', 'fd00:198::20', 80), expect: { blocked: 'DROP' } },
  { name: 'LoadBalancer IP that is a node address, from an allowed source', from: 'extAllowed', proto: 'tcp', to: node(32001), expect: { reach: ['s1'], masq: false } },
  {
    name: 'LoadBalancer IP that is a node address, on a health-check node port, from a source outside loadBalancerSourceRanges: dropped',
    from: 'ext', proto: 'tcp', to: node(32001), expect: { blocked: 'DROP' },
  },
  { name: 'externalIP, Local policy, on a port that is also a NodePort: local endpoint, source kept', from: 'ext', proto: 'tcp', to: v('198.51.100.11', 'fd00:198::11', 30080), expect: { reach: ['s2'], masq: false } },
  { name: 'LoadBalancer IP, Local policy: local endpoint, source kept', from: 'ext', proto: 'tcp', to: v('198.51.100.30', 'fd00:198::30', 80), expect: { reach: ['s1'], masq: false } },
  { name: 'NodePort of a LoadBalancer ignores source ranges', from: 'ext', proto: 'tcp', to: node(30060), expect: { reach: ['s1'], masq: true } },
  { name: 'ClientIP affinity keeps one backend', from: 'client', proto: 'tcp', to: v('10.96.0.70', 'fd00:96::70', 80), expect: { reach: ['s1', 's2'], masq: false, sticky: true } },
  { name: 'terminating endpoints are not used while a ready one exists', from: 'client', proto: 'tcp', to: v('10.96.0.80', 'fd00:96::80', 80), expect: { reach: ['s1'], masq: false } },
  { name: 'serving terminating endpoints are the fallback', from: 'client', proto: 'tcp', to: v('10.96.0.81', 'fd00:96::81', 80), expect: { reach: ['s2'], masq: false } },
  { name: 'hairpin: a pod reaching itself through its Service is masqueraded', from: 's1', proto: 'tcp', to: v('10.96.0.90', 'fd00:96::90', 80), expect: { reach: ['s1'], masq: true } },
  { name: 'zone hints keep traffic in the node zone', from: 'client', proto: 'tcp', to: v('10.96.0.100', 'fd00:96::100', 80), expect: { reach: ['s1'], masq: false } },
  {
    name: 'Service of another proxy gets no rules', from: 'client', proto: 'tcp', to: v('10.96.0.110', 'fd00:96::110', 80), expect: { blocked: 'UNROUTED' },
    // nftables: not ours, so not in cluster-ips; inside a service CIDR, so dropped like an unallocated address (as upstream).
    modes: { nftables: { blocked: 'DROP' } },
  },
  {
    name: 'unallocated ClusterIP', from: 'client', proto: 'tcp', to: v('10.96.0.250', 'fd00:96::250', 80), expect: { blocked: 'UNROUTED' },
    // nftables: cluster-ips-check drops addresses of the service CIDRs that no Service holds
    // (upstream); iptables and IPVS have no such rule (the address is not on kube-ipvs0).
    modes: { nftables: { blocked: 'DROP' } },
  },
];

export const FLOWS: Flow[] = ROWS.flatMap(({ to, families, ...row }) =>
  (families ?? [4, 6]).map((family) => ({
    ...row,
    name: `${row.name} (IPv${family})`,
    family,
    to: { ip: family === 4 ? to.ip4 : to.ip6, port: to.port },
  })),
);

export function expectationFor(flow: Flow, mode: ProxyMode): Expectation {
  return flow.modes?.[mode] ?? flow.expect;
}
