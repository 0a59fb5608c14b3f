// The IPVS table as plain data: what render produces, what `ipvsadm -S -n` is parsed
// into, and what diff compares.

export type IpvsProtocol = 'tcp' | 'udp' | 'sctp';

/** How IPVS forwards to a real server: masq (NAT, what kube-proxy uses), gate (direct routing), ipip (tunnel). */
export type ForwardMethod = 'masq' | 'gate' | 'ipip';

export interface RealServer {
  address: string;
  port: number;
  weight: number;
  forward: ForwardMethod;
}

export interface VirtualServer {
  protocol: IpvsProtocol;
  address: string;
  port: number;
  scheduler: string;
  /** Persistence (ClientIP session affinity) timeout in seconds; 0 means none. */
  persistentTimeout: number;
  /** Scheduler flags (ipvsadm -b), sorted, e.g. ["mh-port"]. */
  flags: readonly string[];
  /** Sorted by address then port. */
  realServers: readonly RealServer[];
}

/** "ip:port", with IPv6 addresses in brackets, as ipvsadm writes them. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Identity of a virtual server: protocol, address and port (e.g. "tcp/10.96.0.1:80"). */
export function vsKey(vs: Pick<VirtualServer, 'protocol' | 'address' | 'port'>): string {
  return `${vs.protocol}/${hostPort(vs.address, vs.port)}`;
}

/** Identity of a real server within its virtual server (e.g. "tcp/10.96.0.1:80/10.244.1.5:8080"). */
export function rsKey(vs: Pick<VirtualServer, 'protocol' | 'address' | 'port'>, rs: Pick<RealServer, 'address' | 'port'>): string {
  return `${vsKey(vs)}/${hostPort(rs.address, rs.port)}`;
}
