// Pure: a snapshot of one family -> the IPVS table, the addresses of kube-ipvs0 and the
// ipset members that the node should have (upstream's IPVS proxier, minus the kernel).
import { cidrContains, compareIPs, formatCIDR, parseCIDR, parseIP } from '../../lib/ip.ts';
import { categorizeEndpoints } from '../model/categorize.ts';
import type { Endpoint, ProxySnapshot, ServicePort } from '../model/types.ts';
import { canonicalMember, ipsetName, type IpsetId } from './ipset.ts';
import { sortRealServers } from './ipvsadm.ts';
import { vsKey, type IpvsProtocol, type RealServer, type VirtualServer } from './types.ts';

export interface RenderInput {
  snapshot: ProxySnapshot;
  scheduler: string;
  /** This node's address in the family ("" when unknown): decides whether LB source ranges admit the node. */
  nodeIP: string;
  /** Addresses that get a NodePort virtual server each (already resolved from --nodeport-addresses). */
  nodePortAddresses: readonly string[];
  /** Local addresses on other interfaces than kube-ipvs0: LoadBalancer and external IPs among them are not bound. */
  otherLocalAddresses: ReadonlySet<string>;
}

export interface DesiredState {
  /** Sorted by vsKey. */
  virtualServers: VirtualServer[];
  /** Addresses to bind on kube-ipvs0, sorted. */
  boundAddresses: string[];
  /** Members per ipset name (every owned set of the family appears, possibly empty). */
  ipsets: Map<string, Set<string>>;
  /** LB VIP ports with source ranges that leave out the node: its own connections to them are dropped (sorted). */
  lbNoNodeAccess: LbEntry[];
  /** vsKey -> the ServicePort it implements ("ns/name:port"), for the names file. */
  names: Map<string, string>;
}

export interface LbEntry {
  ip: string;
  protocol: IpvsProtocol;
  port: number;
}

const PROTOCOLS: Record<ServicePort['protocol'], IpvsProtocol> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

function realServers(endpoints: readonly Endpoint[]): RealServer[] {
  const byId = new Map(endpoints.map((ep) => [`${ep.ip}/${ep.port}`, ep]));
  return sortRealServers([...byId.values()].map((ep) => ({ address: ep.ip, port: ep.port, weight: 1, forward: 'masq' as const })));
}

/**
 * Source ranges as ipset nets: hash:ip,port,net takes no /0, so a match-all range
 * becomes its two halves.
 */
function sourceNets(ranges: readonly string[]): string[] {
  return ranges.flatMap((r) => {
    const c = parseCIDR(r);
    if (!c) return [];
    if (c.prefix > 0) return [canonicalMember(formatCIDR(c))];
    return c.family === 4 ? ['0.0.0.0/1', '128.0.0.0/1'] : ['::/1', '8000::/1'];
  });
}

function rangesContain(ranges: readonly string[], ip: string): boolean {
  const addr = parseIP(ip);
  return addr !== undefined && ranges.some((r) => {
    const c = parseCIDR(r);
    return c !== undefined && cidrContains(c, addr);
  });
}

export function renderIpvs(input: RenderInput): DesiredState {
  const { snapshot } = input;
  const family = snapshot.family;
  const servers = new Map<string, VirtualServer>();
  const names = new Map<string, string>();
  const bound = new Set<string>();
  const ipsets = new Map<string, Set<string>>();
  const lbNoNodeAccess: LbEntry[] = [];
  const add = (id: IpsetId, member: string) => {
    const name = ipsetName(id, family);
    ipsets.set(name, (ipsets.get(name) ?? new Set()).add(member));
  };
  for (const id of ['loopBack', 'clusterIP', 'externalIP', 'externalIPLocal', 'loadBalancer', 'loadBalancerLocal', 'loadBalancerFW',
    'loadBalancerSourceCIDR', 'loadBalancerSourceIP', 'nodePortTCP', 'nodePortLocalTCP', 'nodePortUDP', 'nodePortLocalUDP',
    'nodePortSCTP', 'nodePortLocalSCTP', 'healthCheckNodePort', 'ipvsIPs'] as const) {
    ipsets.set(ipsetName(id, family), new Set());
  }

  for (const key of [...snapshot.services.keys()].sort()) {
    const sp = snapshot.services.get(key) as ServicePort;
    const endpoints = snapshot.endpoints.get(key) ?? [];
    const cat = categorizeEndpoints(sp, endpoints, snapshot.node);
    // Local policy without local endpoints falls back to the cluster endpoints, as
    // upstream's IPVS mode does (PR #97081), instead of dropping.
    const pick = (local: boolean) => realServers(local && cat.localEndpoints.length > 0 ? cat.localEndpoints : cat.clusterEndpoints);
    const internal = pick(sp.internalPolicyLocal);
    const external = pick(sp.externalPolicyLocal);
    const protocol = PROTOCOLS[sp.protocol];
    const virtual = (address: string, port: number, rs: RealServer[]) => {
      const vs: VirtualServer = {
        protocol,
        address,
        port,
        scheduler: input.scheduler,
        persistentTimeout: sp.affinityTimeoutSeconds,
        flags: input.scheduler === 'mh' ? ['mh-port'] : [],
        realServers: rs,
      };
      servers.set(vsKey(vs), vs);
      names.set(vsKey(vs), sp.servicePortName);
    };
    const entry = (ip: string) => `${ip},${protocol}:${sp.port}`;

    for (const ep of endpoints) {
      if (ep.isLocal) add('loopBack', `${ep.ip},${protocol}:${ep.port},${ep.ip}`);
    }

    virtual(sp.clusterIP, sp.port, internal);
    bound.add(sp.clusterIP);
    add('clusterIP', entry(sp.clusterIP));

    for (const ip of sp.externalIPs) {
      virtual(ip, sp.port, external);
      if (!input.otherLocalAddresses.has(ip)) bound.add(ip);
      add(sp.externalPolicyLocal ? 'externalIPLocal' : 'externalIP', entry(ip));
    }

    for (const ip of sp.loadBalancerVIPs) {
      virtual(ip, sp.port, external);
      if (!input.otherLocalAddresses.has(ip)) bound.add(ip);
      add('loadBalancer', entry(ip));
      if (sp.externalPolicyLocal) add('loadBalancerLocal', entry(ip));
      if (sp.loadBalancerSourceRanges.length > 0) {
        add('loadBalancerFW', entry(ip));
        for (const net of sourceNets(sp.loadBalancerSourceRanges)) add('loadBalancerSourceCIDR', `${entry(ip)},${net}`);
        // Traffic from the node itself to its own VIP carries the VIP as source.
        if (input.nodeIP !== '' && rangesContain(sp.loadBalancerSourceRanges, input.nodeIP)) add('loadBalancerSourceIP', `${entry(ip)},${ip}`);
        else lbNoNodeAccess.push({ ip, protocol, port: sp.port });
      }
    }

    if (sp.nodePort !== 0) {
      for (const ip of input.nodePortAddresses) virtual(ip, sp.nodePort, external);
      if (protocol === 'sctp') {
        for (const ip of input.nodePortAddresses) {
          add('nodePortSCTP', `${ip},sctp:${sp.nodePort}`);
          if (sp.externalPolicyLocal) add('nodePortLocalSCTP', `${ip},sctp:${sp.nodePort}`);
        }
      } else {
        add(protocol === 'tcp' ? 'nodePortTCP' : 'nodePortUDP', String(sp.nodePort));
        if (sp.externalPolicyLocal) add(protocol === 'tcp' ? 'nodePortLocalTCP' : 'nodePortLocalUDP', String(sp.nodePort));
      }
    }
    if (sp.healthCheckNodePort !== 0) add('healthCheckNodePort', String(sp.healthCheckNodePort));
  }

  const boundAddresses = [...bound].sort(compareIPs);
  for (const ip of boundAddresses) add('ipvsIPs', ip);
  return {
    virtualServers: [...servers.keys()].sort().map((k) => servers.get(k) as VirtualServer),
    boundAddresses,
    ipsets,
    lbNoNodeAccess: lbNoNodeAccess.sort((a, b) => compareIPs(a.ip, b.ip) || a.port - b.port || a.protocol.localeCompare(b.protocol)),
    names,
  };
}
