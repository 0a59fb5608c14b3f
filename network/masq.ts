// Egress masquerade, owned by `kpr network` (as flanneld's --ip-masq): pods' traffic to
// destinations outside the cluster leaves with the node's address; pod-to-pod traffic
// across nodes keeps the pod's source. One nftables table of its own, replaced in one
// transaction when its content changes; a Node's pod CIDR coming or going is one set
// element added or deleted. The sets are interval sets without auto-merge, so adjacent
// pod CIDRs stay separate elements and each can be deleted exactly.
import { run } from '../lib/exec.ts';
import { cidrContains, parseCIDR, type IPFamily } from '../lib/ip.ts';
import type { PerFamily } from './nodes.ts';

export const MASQ_TABLE = 'kpr-network';

export interface MasqInput {
  /** This node's pod CIDRs: the sources masqueraded. */
  podCIDRs: PerFamily<string>;
  /** Destinations that keep the pod's source (the cluster CIDRs, or every Node's pod CIDRs), none inside another (coverCIDRs). */
  clusterCIDRs: readonly string[];
}

const MULTICAST: Record<IPFamily, string> = { 4: '224.0.0.0/4', 6: 'ff00::/8' };

/** The table's full definition (pure); re-declaring it first makes the delete valid on a first run. */
export function renderMasq(input: MasqInput): string {
  const lines = [`table inet ${MASQ_TABLE}`, `delete table inet ${MASQ_TABLE}`, `table inet ${MASQ_TABLE} {`];
  const rules: string[] = [];
  for (const family of [4, 6] as const) {
    const ip = family === 4 ? 'ip' : 'ip6';
    const cluster = input.clusterCIDRs.filter((c) => c.includes(':') === (family === 6));
    lines.push(`  set cluster${family} {`, `    type ${family === 4 ? 'ipv4_addr' : 'ipv6_addr'}`, '    flags interval');
    if (cluster.length) lines.push(`    elements = { ${cluster.join(', ')} }`);
    lines.push('  }');
    const pods = input.podCIDRs[family];
    if (pods) rules.push(`    ${ip} saddr ${pods} ${ip} daddr != @cluster${family} ${ip} daddr != ${MULTICAST[family]} masquerade`);
  }
  lines.push('  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;', ...rules, '  }', '}');
  return `${lines.join('\n')}\n`;
}

/**
 * The CIDRs without duplicates and without those inside another: an interval set without
 * auto-merge refuses overlapping elements.
 */
export function coverCIDRs(cidrs: readonly string[]): string[] {
  const parsed = [...new Set(cidrs)].flatMap((text) => {
    const c = parseCIDR(text);
    return c ? [{ text, c }] : [];
  });
  // By family, then start, then widest first: a CIDR inside another comes after it, and after every CIDR between them.
  parsed.sort((a, b) => a.c.family - b.c.family || (a.c.network < b.c.network ? -1 : a.c.network > b.c.network ? 1 : a.c.prefix - b.c.prefix));
  const out: string[] = [];
  let last: (typeof parsed)[number] | undefined;
  for (const x of parsed) {
    if (last && last.c.family === x.c.family && cidrContains(last.c, { family: x.c.family, value: x.c.network })) continue;
    out.push(x.text);
    last = x;
  }
  return out;
}

/** nft lines adding and deleting elements of the cluster sets (pure). */
export function renderMasqElements(add: readonly string[], del: readonly string[]): string {
  const line = (verb: string, cidr: string) => `${verb} element inet ${MASQ_TABLE} cluster${cidr.includes(':') ? 6 : 4} { ${cidr} }`;
  return [...del.map((c) => line('delete', c)), ...add.map((c) => line('add', c)), ''].join('\n');
}

export async function applyMasq(text: string): Promise<void> {
  await run('nft', ['-f', '-'], { input: text });
}

export async function removeMasq(): Promise<void> {
  await run('nft', ['-f', '-'], { input: `table inet ${MASQ_TABLE}\ndelete table inet ${MASQ_TABLE}\n` });
}
