// Random Services and EndpointSlices for the injection fuzz test (issue 12): each comes
// twice, once with random names (valid ones, hostile ones, long ones) and once with
// plain names, the same in every other field, so that a ruleset rendered from the
// first must be the ruleset of the second with other names, nothing more.
import type { Obj } from '../../lab/objects.ts';

/** mulberry32: a small seeded PRNG, so that a seed reproduces a run. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
}

/** Pieces that mean something to iptables-restore, nft or a shell, and characters no name should hold. */
const HOSTILE = [
  '\nCOMMIT\n*filter\n-I INPUT 1 -j ACCEPT\nCOMMIT\n*nat\n', '\nCOMMIT\n*filter\n-I INPUT 1 -j ACCEPT\nCOMMIT\n*nat\n-A KUBE-MARK-MASQ -m comment --comment "x', '\nflush ruleset\n', '\nadd rule ip filter input accept\n',
  '" -j ACCEPT #', '\\', '\\"', '"', "'", '#', ' ', '\t', '\r', '\n', '\0', '\x1b[2J', ';', '{', '}', '*', '@', ',', ':', '/', '.',
  'COMMIT', 'flush ruleset', '-I INPUT 1 -j ACCEPT', '$(reboot)', 'é', '→', '\u2028', '💥', 'A', '--', '-',
];
const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';

function label(r: Rng, max = 12): string {
  let s = ALNUM[r.int(26)] ?? 'a';
  for (let n = r.int(max); n > 0; n--) s += r.pick([...ALNUM, '-']);
  return s.endsWith('-') ? `${s}z` : s;
}

/** A name: a valid label half of the time, else hostile pieces, a hostile tail, or very long. */
export function randomName(r: Rng): string {
  switch (r.int(8)) {
    case 0: case 1: case 2: case 3: return label(r);
    case 4: return `${label(r, 4)}${r.pick(HOSTILE)}${r.chance(0.5) ? label(r, 4) : ''}`;
    case 5: return Array.from({ length: 1 + r.int(6) }, () => (r.chance(0.6) ? r.pick(HOSTILE) : label(r, 3))).join('');
    case 6: return `${label(r, 3)}${r.pick(HOSTILE)}`.repeat(20 + r.int(150));
    default: return r.chance(0.3) ? '' : r.pick(HOSTILE);
  }
}

type Protocol = 'TCP' | 'UDP' | 'SCTP';

/** Everything about a Service and its endpoints but names. */
export interface ServiceShape {
  type: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  clusterIPs: [string, string];
  ports: { port: number; protocol: Protocol; nodePort: number; targetPort: number }[];
  externalIPs: string[];
  loadBalancerIPs: string[];
  sourceRanges: string[];
  externalLocal: boolean;
  internalLocal: boolean;
  affinity: boolean;
  healthCheckNodePort: number;
  endpoints: { ip4: string; ip6: string; local: boolean }[];
}

export interface Names {
  namespace: string;
  name: string;
  ports: string[];
  slice: string;
}

export function randomShape(r: Rng, i: number): ServiceShape {
  const type = r.pick(['ClusterIP', 'NodePort', 'LoadBalancer'] as const);
  const ports = Array.from({ length: 1 + r.int(3) }, (_, j) => ({
    port: 80 + j,
    protocol: r.pick(['TCP', 'TCP', 'UDP', 'SCTP'] as const),
    nodePort: 30000 + i * 4 + j,
    targetPort: 8080 + j,
  }));
  return {
    type,
    clusterIPs: [`10.96.${i >> 8}.${i & 255}`, `fd00:96::${i.toString(16)}`],
    ports,
    externalIPs: r.chance(0.3) ? [`192.168.9.${i}`, `fd00:9::${i.toString(16)}`] : [],
    loadBalancerIPs: type === 'LoadBalancer' && r.chance(0.7) ? [`5.6.${i >> 8}.${i & 255}`, `fd00:56::${i.toString(16)}`] : [],
    sourceRanges: r.chance(0.4) ? ['192.168.0.0/24', 'fd00:1::/64'] : [],
    externalLocal: r.chance(0.4),
    internalLocal: r.chance(0.2),
    affinity: r.chance(0.5),
    healthCheckNodePort: type === 'LoadBalancer' ? 32000 + i : 0,
    endpoints: Array.from({ length: r.int(4) }, (_, k) => ({ ip4: `10.244.${i}.${k + 2}`, ip6: `fd00:10:244::${i.toString(16)}:${k + 2}`, local: r.chance(0.5) })),
  };
}

/** Names for a Service: random (port names unique, present when there are several ports) or plain. */
export function randomNames(r: Rng, shape: ServiceShape): Names {
  const ports: string[] = [];
  while (ports.length < shape.ports.length) {
    const p = shape.ports.length === 1 && r.chance(0.2) ? '' : randomName(r);
    if (p !== '' || shape.ports.length === 1) if (!ports.includes(p)) ports.push(p);
  }
  return { namespace: randomName(r), name: randomName(r), ports, slice: r.chance(0.5) ? `${label(r)}.${label(r)}` : randomName(r) };
}

export function plainNames(i: number, random: Names): Names {
  return { namespace: `ns${i}`, name: `svc${i}`, ports: random.ports.map((p, j) => (p === '' ? '' : `p${j}`)), slice: `svc${i}-abc` };
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** The Service and its two EndpointSlices (IPv4, IPv6) as the API server would send them. */
export function objectsOf(shape: ServiceShape, n: Names, node: string): { service: Obj; slices: Obj[] } {
  const service: Obj = {
    apiVersion: 'v1', kind: 'Service',
    metadata: { namespace: n.namespace, name: n.name },
    spec: {
      type: shape.type,
      clusterIP: shape.clusterIPs[0],
      clusterIPs: shape.clusterIPs,
      ipFamilyPolicy: 'RequireDualStack',
      ports: shape.ports.map((p, j) => ({ ...(n.ports[j] ? { name: n.ports[j] } : {}), port: p.port, protocol: p.protocol, targetPort: p.targetPort, ...(shape.type === 'ClusterIP' ? {} : { nodePort: p.nodePort }) })),
      externalIPs: shape.externalIPs,
      loadBalancerSourceRanges: shape.sourceRanges,
      externalTrafficPolicy: shape.type !== 'ClusterIP' || shape.externalIPs.length ? (shape.externalLocal ? 'Local' : 'Cluster') : undefined,
      internalTrafficPolicy: shape.internalLocal ? 'Local' : 'Cluster',
      sessionAffinity: shape.affinity ? 'ClientIP' : 'None',
      ...(shape.healthCheckNodePort && shape.externalLocal ? { healthCheckNodePort: shape.healthCheckNodePort } : {}),
    },
    status: { loadBalancer: { ingress: shape.loadBalancerIPs.map((ip) => ({ ip })) } },
  };
  const slices = (['IPv4', 'IPv6'] as const).map((addressType): Obj => ({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { namespace: n.namespace, name: `${n.slice}-${addressType === 'IPv4' ? 4 : 6}`, labels: { [SERVICE_NAME_LABEL]: n.name } } as Obj['metadata'],
    addressType,
    endpoints: shape.endpoints.map((e) => ({ addresses: [addressType === 'IPv4' ? e.ip4 : e.ip6], conditions: { ready: true }, nodeName: e.local ? node : 'node-b' })),
    ports: shape.ports.map((p, j) => ({ name: n.ports[j] ?? '', port: p.targetPort, protocol: p.protocol })),
  }));
  return { service, slices };
}
