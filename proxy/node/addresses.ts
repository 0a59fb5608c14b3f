// Which of this node's addresses accept NodePorts (--nodeport-addresses), and the
// node's primary address per family.
import { run } from '../../lib/exec.ts';
import { parseIpAddrJSON } from '../../lib/ip-addr.ts';
import { cidrContains, normalizeIP, parseCIDR, parseIP, type IPFamily } from '../../lib/ip.ts';
import type { Node } from '../watch/objects.ts';

/** Every address configured on this network namespace's interfaces. */
export async function localAddresses(): Promise<string[]> {
  const out = await run('ip', ['-j', 'addr', 'show']);
  const ips = parseIpAddrJSON(out.stdout).flatMap((l) => l.addresses.map((a) => a.ip));
  return [...new Set(ips)].sort();
}

/** The Node's InternalIP (else ExternalIP) of the family, "" when it has none. */
export function nodePrimaryIP(node: Node | undefined, family: IPFamily): string {
  const addrs = node?.status.addresses ?? [];
  for (const type of ['InternalIP', 'ExternalIP']) {
    for (const a of addrs) {
      const ip = parseIP(a.address);
      if (a.type === type && ip?.family === family) return normalizeIP(a.address) ?? '';
    }
  }
  return '';
}

/**
 * NodePort addresses of one family: undefined means every local address (a /0 in
 * the list); otherwise the local addresses inside the CIDRs, plus the primary address
 * when "primary" was asked for.
 */
export function nodePortIPs(
  setting: { primary: boolean; cidrs: readonly string[] },
  family: IPFamily,
  local: readonly string[],
  primary: string,
): string[] | undefined {
  const cidrs = setting.cidrs.map(parseCIDR).filter((c) => c?.family === family);
  if (cidrs.some((c) => c?.prefix === 0)) return undefined;
  const picked = new Set<string>();
  for (const ip of local) {
    const p = parseIP(ip);
    if (p && cidrs.some((c) => c && cidrContains(c, p))) picked.add(ip);
  }
  if (setting.primary && primary) picked.add(primary);
  return [...picked].sort();
}
