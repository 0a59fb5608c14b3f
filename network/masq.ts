// Egress masquerade, owned by `kpr network` (as flanneld's --ip-masq): pods' traffic to
// destinations outside the cluster leaves with the node's address; pod-to-pod traffic
// across nodes keeps the pod's source. One nftables table of its own, replaced in one
// transaction when its shape changes. Without --cluster-cidr the destinations kept are
// every Node's pod CIDR, held as network addresses in one hash set per family and prefix
// length (`nodes4_24`, matched with `daddr & mask`): a Node's pod CIDR coming or going is
// then one exact element add or delete, which costs the same at 5,000 Nodes as at 5 (an
// interval set makes nft read all its elements back first, and with auto-merge adjacent
// /24s merge and can no longer be deleted one by one).
import { run } from '../lib/exec.ts';
import { bitsOf, formatIP, parseCIDR, type IPFamily } from '../lib/ip.ts';
import type { PerFamily } from './nodes.ts';

export const MASQ_TABLE = 'kpr-network';

export interface MasqInput {
  /** This node's pod CIDRs: the sources masqueraded. */
  podCIDRs: PerFamily<string>;
  /** --cluster-cidr: destinations that keep the pod's source. */
  clusterCIDRs: readonly string[];
  /** Every Node's pod CIDRs (when no --cluster-cidr is given): destinations that keep the pod's source. */
  nodeCIDRs: readonly string[];
}

const MULTICAST: Record<IPFamily, string> = { 4: '224.0.0.0/4', 6: 'ff00::/8' };

const familyOf = (cidr: string): IPFamily => (cidr.includes(':') ? 6 : 4);
const prefixOf = (cidr: string) => Number(cidr.slice(cidr.indexOf('/') + 1));
const nodeSet = (cidr: string) => `nodes${familyOf(cidr)}_${prefixOf(cidr)}`;
const element = (cidr: string) => cidr.slice(0, cidr.indexOf('/'));

function mask(family: IPFamily, prefix: number): string {
  const bits = BigInt(bitsOf(family));
  return formatIP({ family, value: ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n) });
}

/** The table's full definition (pure); re-declaring it first makes the delete valid on a first run. */
export function renderMasq(input: MasqInput): string {
  const lines = [`table inet ${MASQ_TABLE}`, `delete table inet ${MASQ_TABLE}`, `table inet ${MASQ_TABLE} {`];
  const rules: string[] = [];
  for (const family of [4, 6] as const) {
    const ip = family === 4 ? 'ip' : 'ip6';
    const type = family === 4 ? 'ipv4_addr' : 'ipv6_addr';
    const cluster = input.clusterCIDRs.filter((c) => parseCIDR(c)?.family === family);
    lines.push(`  set cluster${family} {`, `    type ${type}`, '    flags interval', '    auto-merge');
    if (cluster.length) lines.push(`    elements = { ${cluster.join(', ')} }`);
    lines.push('  }');
    const byPrefix = new Map<number, string[]>();
    for (const c of input.nodeCIDRs) if (familyOf(c) === family) byPrefix.set(prefixOf(c), [...(byPrefix.get(prefixOf(c)) ?? []), element(c)]);
    const pods = input.podCIDRs[family];
    if (pods) rules.push(`    ${ip} saddr ${pods} ${ip} daddr @cluster${family} return`);
    for (const [prefix, elements] of [...byPrefix].sort((a, b) => a[0] - b[0])) {
      lines.push(`  set nodes${family}_${prefix} {`, `    type ${type}`, `    elements = { ${elements.join(', ')} }`, '  }');
      if (pods) rules.push(`    ${ip} saddr ${pods} ${ip} daddr & ${mask(family, prefix)} @nodes${family}_${prefix} return`);
    }
    if (pods) rules.push(`    ${ip} saddr ${pods} ${ip} daddr != ${MULTICAST[family]} masquerade`);
  }
  lines.push('  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;', ...rules, '  }', '}');
  return `${lines.join('\n')}\n`;
}

/**
 * nft lines adding and deleting Nodes' pod CIDRs (pure). A prefix length without its set
 * yet makes them fail: the caller then replaces the table.
 */
export function renderMasqElements(add: readonly string[], del: readonly string[]): string {
  const line = (verb: string, cidr: string) => `${verb} element inet ${MASQ_TABLE} ${nodeSet(cidr)} { ${element(cidr)} }`;
  return [...del.map((c) => line('delete', c)), ...add.map((c) => line('add', c)), ''].join('\n');
}

export async function applyMasq(text: string): Promise<void> {
  await run('nft', ['-f', '-'], { input: text });
}

export async function removeMasq(): Promise<void> {
  await run('nft', ['-f', '-'], { input: `table inet ${MASQ_TABLE}\ndelete table inet ${MASQ_TABLE}\n` });
}
