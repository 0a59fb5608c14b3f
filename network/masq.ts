// Egress masquerade, owned by `kpr network` (as flanneld's --ip-masq): pods' traffic to
// destinations outside the cluster leaves with the node's address; pod-to-pod traffic
// across nodes keeps the pod's source. One nftables table of its own, replaced in one
// transaction when its content changes.
import { run } from '../lib/exec.ts';
import { parseCIDR, type IPFamily } from '../lib/ip.ts';
import type { PerFamily } from './nodes.ts';

export const MASQ_TABLE = 'kpr-network';

export interface MasqInput {
  /** This node's pod CIDRs: the sources masqueraded. */
  podCIDRs: PerFamily<string>;
  /** Destinations that keep the pod's source (the cluster CIDRs, or every Node's pod CIDRs). */
  clusterCIDRs: readonly string[];
}

const MULTICAST: Record<IPFamily, string> = { 4: '224.0.0.0/4', 6: 'ff00::/8' };

/** The table's full definition (pure); re-declaring it first makes the delete valid on a first run. */
export function renderMasq(input: MasqInput): string {
  const lines = [`table inet ${MASQ_TABLE}`, `delete table inet ${MASQ_TABLE}`, `table inet ${MASQ_TABLE} {`];
  const rules: string[] = [];
  for (const family of [4, 6] as const) {
    const ip = family === 4 ? 'ip' : 'ip6';
    const cluster = input.clusterCIDRs.filter((c) => parseCIDR(c)?.family === family);
    lines.push(`  set cluster${family} {`, `    type ${family === 4 ? 'ipv4_addr' : 'ipv6_addr'}`, '    flags interval', '    auto-merge');
    if (cluster.length) lines.push(`    elements = { ${cluster.join(', ')} }`);
    lines.push('  }');
    const pods = input.podCIDRs[family];
    if (pods) rules.push(`    ${ip} saddr ${pods} ${ip} daddr != @cluster${family} ${ip} daddr != ${MULTICAST[family]} masquerade`);
  }
  lines.push('  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;', ...rules, '  }', '}');
  return `${lines.join('\n')}\n`;
}

export async function applyMasq(text: string): Promise<void> {
  await run('nft', ['-f', '-'], { input: text });
}

export async function removeMasq(): Promise<void> {
  await run('nft', ['-f', '-'], { input: `table inet ${MASQ_TABLE}\ndelete table inet ${MASQ_TABLE}\n` });
}
