// Turns rendered rules into iptables-restore input (pure). A full plan rewrites every
// chain kpr owns in one atomic restore; a partial plan touches only the chains and
// shared-chain rules of the ServicePorts that changed, so its cost follows the size of
// the change rather than the number of Services (kube-proxy rewrites all of
// KUBE-SERVICES on every sync; we delete and insert single rules instead).
import type { BaseRules, ServiceRules } from './render.ts';
import { KUBE_SERVICES, isServiceChain } from './chains.ts';

export interface KernelView {
  /** Chains present in the nat table. */
  natChains: ReadonlySet<string>;
  /** Jump targets already present per built-in chain, as "table/CHAIN -> TARGET". */
  jumps: ReadonlySet<string>;
}

export const jumpKey = (table: string, chain: string, target: string) => `${table}/${chain} -> ${target}`;

const chainLine = (name: string) => `:${name} - [0:0]`;

function tables(filter: string[], nat: string[]): string {
  const parts: string[] = [];
  if (filter.length) parts.push('*filter', ...filter, 'COMMIT');
  if (nat.length) parts.push('*nat', ...nat, 'COMMIT');
  return parts.length ? `${parts.join('\n')}\n` : '';
}

/** Rewrites everything: base chains, every ServicePort, and deletes stale service chains. */
export function planFull(base: BaseRules, services: ReadonlyMap<string, ServiceRules>, kernel: KernelView): string {
  const all = [...services.values()];
  const wanted = new Set(all.flatMap((s) => [...s.natChains.keys()]));
  const stale = [...kernel.natChains].filter((c) => isServiceChain(c) && !wanted.has(c)).sort();
  const jumps = (table: 'filter' | 'nat') =>
    base.jumps
      .filter(([t, chain, spec]) => t === table && !kernel.jumps.has(jumpKey(t, chain, /-j (\S+)$/.exec(spec)?.[1] ?? '')))
      .map(([, chain, spec]) => `-I ${chain} 1 ${spec}`);

  const filter = [
    ...base.filterChains.map(chainLine),
    ...base.filterRules,
    ...all.flatMap((s) => s.filterShared),
    ...jumps('filter'),
  ];
  const nat = [
    ...base.natChains.map(chainLine),
    ...[...wanted].map(chainLine),
    // Declaring a stale chain flushes it, so that deleting it below cannot fail on its rules.
    ...stale.map(chainLine),
    ...base.natRules,
    ...all.flatMap((s) => s.natShared),
    ...base.natServicesTail,
    ...all.flatMap((s) => [...s.natChains.values()].flat()),
    ...stale.map((c) => `-X ${c}`),
    ...jumps('nat'),
  ];
  return tables(filter, nat);
}

const asDelete = (rule: string) => `-D ${rule.slice(3)}`;

/** Shared-chain rules go in where order allows: KUBE-SERVICES must keep its NodePort catch-all last. */
function asInsert(rule: string): string {
  const prefix = `-A ${KUBE_SERVICES} `;
  return rule.startsWith(prefix) ? `-I ${KUBE_SERVICES} 1 ${rule.slice(prefix.length)}` : rule;
}

function sameRules(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((r, i) => r === b[i]);
}

/**
 * Moves the kernel from `before` to `after` for the given ServicePorts only (absent
 * from `after` means removed). Chains whose rules did not change are not sent.
 */
export function planPartial(
  before: ReadonlyMap<string, ServiceRules>,
  after: ReadonlyMap<string, ServiceRules>,
  changed: Iterable<string>,
): string {
  const filter: string[] = [];
  const natHead: string[] = [];
  const natShared: string[] = [];
  const natBody: string[] = [];
  const natTail: string[] = [];
  for (const key of changed) {
    const old = before.get(key);
    const cur = after.get(key);
    const oldFilter = new Set(old?.filterShared);
    const curFilter = new Set(cur?.filterShared);
    for (const r of oldFilter) if (!curFilter.has(r)) filter.push(asDelete(r));
    for (const r of curFilter) if (!oldFilter.has(r)) filter.push(r);
    const oldNat = new Set(old?.natShared);
    const curNat = new Set(cur?.natShared);
    for (const r of oldNat) if (!curNat.has(r)) natShared.push(asDelete(r));
    for (const r of curNat) if (!oldNat.has(r)) natShared.push(asInsert(r));
    for (const [chain, rules] of cur?.natChains ?? []) {
      if (sameRules(old?.natChains.get(chain), rules)) continue;
      natHead.push(chainLine(chain));
      natBody.push(...rules);
    }
    for (const chain of old?.natChains.keys() ?? []) {
      if (cur?.natChains.has(chain)) continue;
      natHead.push(chainLine(chain));
      natTail.push(`-X ${chain}`);
    }
  }
  // Deletions of shared rules come before inserts, so a rule that moved is never doubled.
  natShared.sort((a, b) => Number(b.startsWith('-D ')) - Number(a.startsWith('-D ')));
  filter.sort((a, b) => Number(b.startsWith('-D ')) - Number(a.startsWith('-D ')));
  return tables(filter, [...natHead, ...natShared, ...natBody, ...natTail]);
}
