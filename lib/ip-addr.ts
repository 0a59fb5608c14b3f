// `ip -j addr show` output, parsed once for everyone who reads interface addresses
// (the proxy's node addresses, IPVS's kube-ipvs0, the CNI plugin's CHECK).
import * as z from 'zod';
import { KprError } from './errors.ts';
import { ipFamily, normalizeIP, type IPFamily } from './ip.ts';

export interface InterfaceAddress {
  /** Canonical text of the address. */
  ip: string;
  prefixLength: number;
  family: IPFamily;
  /** "global", "link", "host"… as ip prints it. */
  scope: string;
}

export interface InterfaceAddresses {
  ifname: string;
  addresses: InterfaceAddress[];
}

const IpAddrJSON = z.array(
  z.object({
    ifname: z.string(),
    addr_info: z.array(z.object({ local: z.string(), prefixlen: z.number().optional(), scope: z.string().optional() })).default([]),
  }),
);

export function parseIpAddrJSON(json: string): InterfaceAddresses[] {
  let links;
  try {
    links = IpAddrJSON.parse(JSON.parse(json));
  } catch (cause) {
    throw new KprError('IP_ADDR_PARSE', 'cannot parse the output of ip -j addr show', { cause });
  }
  return links.map((l) => ({
    ifname: l.ifname,
    addresses: l.addr_info.flatMap((a) => {
      const ip = normalizeIP(a.local);
      const family = ipFamily(a.local);
      if (ip === undefined || family === undefined) return [];
      return [{ ip, family, prefixLength: a.prefixlen ?? (family === 4 ? 32 : 128), scope: a.scope ?? 'global' }];
    }),
  }));
}
