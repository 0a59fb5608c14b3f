// What kube-proxy in iptables mode leaves on a node for a few Services, written the way
// upstream writes it (kube-proxy's iptables proxier: hooks with their comments,
// per-service chains with upstream's hashing, the probability cascade, KUBE-PROXY-CANARY),
// without nfacct. Written independently of kpr's renderer, so a test that starts kpr
// on it checks that kpr really adopts upstream's chains rather than its own. And the
// clients that keep connecting through them while kpr takes over.
import { createHash } from 'node:crypto';
import type { Netns } from '../../lab/netns.ts';
import { NODE_IP, PODS, type Topology } from '../../lab/topology.ts';

export interface UpstreamService {
  namespace: string;
  name: string;
  portName: string;
  protocol: 'tcp' | 'udp';
  clusterIP: string;
  port: number;
  nodePort?: number;
  /** "ip:port" of every ready endpoint. */
  endpoints: string[];
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** base32(sha256(s)) truncated to 16 characters, as upstream's chain names. */
function hash16(s: string): string {
  const d = createHash('sha256').update(s).digest();
  let bits = '';
  for (const b of d.subarray(0, 10)) bits += b.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < 80; i += 5) out += B32[parseInt(bits.slice(i, i + 5), 2)];
  return out;
}

const portName = (s: UpstreamService) => `${s.namespace}/${s.name}${s.portName ? `:${s.portName}` : ''}`;
export const svcChain = (s: UpstreamService) => `KUBE-SVC-${hash16(portName(s) + s.protocol)}`;
const extChain = (s: UpstreamService) => `KUBE-EXT-${hash16(portName(s) + s.protocol)}`;
const sepChain = (s: UpstreamService, ep: string) => `KUBE-SEP-${hash16(portName(s) + s.protocol + ep)}`;

/** iptables-restore input (IPv4) for a fresh node: filter, nat and mangle as kube-proxy leaves them. */
export function upstreamIptables(services: UpstreamService[], clusterCIDR: string): string {
  const natChains = ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ', 'KUBE-PROXY-CANARY'];
  const nat: string[] = [
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
  ];
  for (const s of services) {
    const name = portName(s);
    const match = `-m ${s.protocol} -p ${s.protocol}`;
    const svc = svcChain(s);
    natChains.push(svc);
    nat.push(`-A KUBE-SERVICES -m comment --comment "${name} cluster IP" ${match} -d ${s.clusterIP} --dport ${s.port} -j ${svc}`);
    nat.push(`-A ${svc} -m comment --comment "${name} cluster IP" ${match} -d ${s.clusterIP} --dport ${s.port} ! -s ${clusterCIDR} -j KUBE-MARK-MASQ`);
    const eps = [...s.endpoints].sort();
    eps.forEach((ep, i) => {
      const sep = sepChain(s, ep);
      natChains.push(sep);
      const prob = i < eps.length - 1 ? ` -m statistic --mode random --probability ${(1 / (eps.length - i)).toFixed(10)}` : '';
      nat.push(`-A ${svc} -m comment --comment "${name} -> ${ep}"${prob} -j ${sep}`);
      nat.push(`-A ${sep} -m comment --comment ${name} -s ${ep.split(':')[0]} -j KUBE-MARK-MASQ`);
      nat.push(`-A ${sep} -m comment --comment ${name} ${match} -j DNAT --to-destination ${ep}`);
    });
    if (s.nodePort) {
      const ext = extChain(s);
      natChains.push(ext);
      nat.push(`-A KUBE-NODEPORTS -m comment --comment ${name} ${match} --dport ${s.nodePort} -j ${ext}`);
      nat.push(`-A ${ext} -m comment --comment "masquerade traffic for ${name} external destinations" -j KUBE-MARK-MASQ`);
      nat.push(`-A ${ext} -j ${svc}`);
    }
  }
  nat.push('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');

  const filterChains = ['KUBE-NODEPORTS', 'KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FIREWALL', 'KUBE-FORWARD', 'KUBE-PROXY-FIREWALL', 'KUBE-PROXY-CANARY'];
  const filter = [
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    '-A INPUT -j KUBE-FIREWALL',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -j KUBE-FIREWALL',
    '-A KUBE-FIREWALL -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
    '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  ];
  const table = (name: string, chains: string[], rules: string[]) => [`*${name}`, ...chains.map((c) => `:${c} - [0:0]`), ...rules, 'COMMIT'];
  return [
    // kubelet's hint that this node's iptables is this backend (kept: kubelet's, not kube-proxy's).
    ...table('mangle', ['KUBE-IPTABLES-HINT', 'KUBE-PROXY-CANARY'], []),
    ...table('filter', filterChains, filter),
    ...table('nat', natChains, nat),
    '',
  ].join('\n');
}

const ep = (pod: keyof typeof PODS, port: number) => `${PODS[pod].ip4}:${port}`;
/** What kube-proxy had programmed for the flow cluster's web and np Services. */
export const UPSTREAM: UpstreamService[] = [
  { namespace: 'flows', name: 'web', portName: 'p', protocol: 'tcp', clusterIP: '10.96.0.10', port: 80, endpoints: [ep('s1', 8080), ep('s2', 8080), ep('r1', 8080)] },
  { namespace: 'flows', name: 'web', portName: 'dns', protocol: 'udp', clusterIP: '10.96.0.10', port: 53, endpoints: [ep('s1', 5353), ep('s2', 5353), ep('r1', 5353)] },
  { namespace: 'flows', name: 'np', portName: 'p', protocol: 'tcp', clusterIP: '10.96.0.30', port: 80, nodePort: 30080, endpoints: [ep('r1', 8080)] },
];

interface Probe { from: keyof Topology['pods'] | 'ext'; proto: 'tcp' | 'udp'; host: string; port: number }
const LOOPS: Probe[] = [
  { from: 'client', proto: 'tcp', host: '10.96.0.10', port: 80 },
  { from: 'client', proto: 'udp', host: '10.96.0.10', port: 53 },
  { from: 'ext', proto: 'tcp', host: NODE_IP.ip4, port: 30080 },
];

/** Clients connecting in a loop (a new connection each time) until stopped; every failure is kept. */
export function clientLoops(topo: Topology) {
  let running = true;
  const failures: string[] = [];
  let probes = 0;
  const one = async (p: Probe) => {
    const ns: Netns = p.from === 'ext' ? topo.externals.ext : topo.pods[p.from];
    const agent = topo.agent(ns);
    while (running) {
      const r = await agent.call({ op: 'probe', proto: p.proto, host: p.host, port: p.port, timeoutMs: 1000 });
      probes++;
      if (!r.ok) failures.push(`${p.from} -> ${p.proto} ${p.host}:${p.port} at ${new Date().toISOString()}: ${r.error}`);
    }
  };
  const done = Promise.all(LOOPS.map(one));
  return {
    failures,
    get probes() { return probes; },
    async stop() { running = false; await done; },
  };
}
