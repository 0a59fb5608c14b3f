// CNI results: one internal shape (the 1.x one), written in the version the config
// asked for. Reading one (parse-result.ts) needs zod; writing does not.
import { atLeast } from './version.ts';

export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  /** The netns path for interfaces inside the container; absent on the host side. */
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface IPConfig {
  /** CIDR notation: address and prefix length ("10.244.1.5/24"). */
  address: string;
  gateway?: string;
  /** Index into interfaces. */
  interface?: number;
}

export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface DNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Result {
  cniVersion: string;
  interfaces: Interface[];
  ips: IPConfig[];
  routes: Route[];
  dns?: DNS;
}

/** The result as the given version writes it: 0.3.x and 0.4.0 tag each IP with its family. */
export function formatResult(r: Result, cniVersion: string): Record<string, unknown> {
  const legacy = !atLeast(cniVersion, '1.0.0');
  const ips = r.ips.map((ip) => (legacy ? { version: ip.address.includes(':') ? '6' : '4', ...ip } : { ...ip }));
  // An IPAM plugin's (abbreviated) result has no interfaces at all.
  const out: Record<string, unknown> = r.interfaces.length > 0 ? { cniVersion, interfaces: r.interfaces, ips, routes: r.routes } : { cniVersion, ips, routes: r.routes };
  if (r.dns) out.dns = r.dns;
  return out;
}
