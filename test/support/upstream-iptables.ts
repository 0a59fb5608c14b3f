// What kube-proxy in iptables mode leaves on a node for a few Services, written the way
// upstream writes it (../shared/reference/kube-proxy.md §2: hooks with their comments,
// per-service chains with upstream's hashing, the probability cascade, KUBE-PROXY-CANARY),
// without nfacct. Written independently of kpr's renderer, so a test that starts kpr
// on it checks that kpr really adopts upstream's chains rather than its own.
import { createHash } from 'node:crypto';

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
