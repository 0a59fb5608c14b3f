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
  /** Rules of the built-in chains that jump to a KUBE-* chain, as iptables-save prints them ("-A INPUT ..."), in kernel order. */
  jumps: Record<'filter' | 'nat', readonly string[]>;
}

const jumpTarget = (rule: string) => /-j (\S+)\s*$/.exec(rule)?.[1] ?? '';

/**
 * The jumps from the built-in chains of one table into ours. A built-in chain whose jumps
 * into our chains are already those wanted, in the wanted order, is left alone (its rules
 * keep their counters and place); otherwise they are deleted and written again on top,
 * in order, in the same atomic restore: this also repairs the order left by older kpr
 * versions, which inserted the jumps in reverse.
 */
function jumpRules(base: BaseRules, table: 'filter' | 'nat', kernel: KernelView): string[] {
  const out: string[] = [];
  const builtins = [...new Set(base.jumps.filter(([t]) => t === table).map(([, chain]) => chain))];
  for (const chain of builtins) {
    const want = base.jumps.filter(([t, c]) => t === table && c === chain).map(([, , spec]) => spec);
    const targets = new Set(want.map(jumpTarget));
    const have = kernel.jumps[table].filter((l) => l.startsWith(`-A ${chain} `) && targets.has(jumpTarget(l)));
    if (have.map(jumpTarget).join(' ') === want.map(jumpTarget).join(' ')) continue;
    for (const rule of have) out.push(`-D ${rule.slice(3)}`);
    want.forEach((spec, i) => out.push(`-I ${chain} ${i + 1} ${spec}`));
  }
  return out;
}

const chainLine = (name: string) => `:${name} - [0:0]`;

function tables(filter: string[], nat: string[]): string {
  // Joined piecewise: a full ruleset has hundreds of thousands of lines, too many to
  // pass as call arguments.
  let out = '';
  if (filter.length) out += `*filter\n${filter.join('\n')}\nCOMMIT\n`;
  if (nat.length) out += `*nat\n${nat.join('\n')}\nCOMMIT\n`;
  return out;
}

/**
 * Chains declared per restore. iptables-nft (1.8.9) looks up the chains a restore
 * creates linearly, so one restore of a whole large ruleset is quadratic: 3,000
 * Services x 10 endpoints took 67 s as one --noflush restore and 3.9 s as ten.
 */
export const CHAINS_PER_RESTORE = 2000;

function inBatches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Rewrites everything, as restores to apply in order, each atomic: first every
 * ServicePort's own chains (a ServicePort's chains always share a restore, so each
 * step is consistent), then the shared chains that point at them, then the stale
 * service chains (all flushed before any is deleted, as stale chains may reference
 * each other). Lazy: `services` is read one batch of chains per restore, so a caller
 * that renders as it goes holds one batch's rule text at a time, not the whole
 * ruleset (at 10,000 Services x 10 endpoints, holding it all doubled the peak RSS).
 */
export function* planFull(base: BaseRules, services: Iterable<ServiceRules>, kernel: KernelView): Generator<string> {
  // Service chains jump to shared ones (KUBE-MARK-MASQ): create those that are missing
  // first. Declaring an existing one would flush it, so only missing ones are named.
  let chains: string[] = base.natChains.filter((c) => !kernel.natChains.has(c)).map(chainLine);
  let rules: string[] = [];
  const wanted = new Set<string>();
  const filterShared: string[] = [];
  const natShared: string[] = [];
  for (const s of services) {
    for (const [name, r] of s.natChains) {
      wanted.add(name);
      chains.push(chainLine(name));
      for (const rule of r) rules.push(rule);
    }
    for (const rule of s.filterShared) filterShared.push(rule);
    for (const rule of s.natShared) natShared.push(rule);
    if (chains.length >= CHAINS_PER_RESTORE) {
      yield tables([], chains.concat(rules));
      chains = [];
      rules = [];
    }
  }
  if (chains.length) yield tables([], chains.concat(rules));

  const jumps = (table: 'filter' | 'nat') => jumpRules(base, table, kernel);
  const filter = [...base.filterChains.map(chainLine), ...base.filterRules, ...filterShared, ...jumps('filter')];
  const nat = [...base.natChains.map(chainLine), ...base.natRules, ...natShared, ...base.natServicesTail, ...jumps('nat')];
  yield tables(filter, nat);

  const stale = [...kernel.natChains].filter((c) => isServiceChain(c) && !wanted.has(c)).sort();
  for (const batch of inBatches(stale, CHAINS_PER_RESTORE)) yield tables([], batch.map(chainLine));
  for (const batch of inBatches(stale, CHAINS_PER_RESTORE)) yield tables([], batch.map((c) => `-X ${c}`));
}

const asDelete = (rule: string) => `-D ${rule.slice(3)}`;

/** Shared-chain rules go in where order allows: KUBE-SERVICES must keep its NodePort catch-all last. */
function asInsert(rule: string): string {
  const prefix = `-A ${KUBE_SERVICES} `;
  return rule.startsWith(prefix) ? `-I ${KUBE_SERVICES} 1 ${rule.slice(prefix.length)}` : rule;
}

/**
 * What a partial sync needs to remember of a ServicePort's programmed rules: its
 * shared-chain rules verbatim (to delete them by value) and, of its own chains, only a
 * digest of each chain's rules. Keeping every rule's text cost ~130 MB at 10,000
 * Services x 10 endpoints.
 */
export interface ProgrammedService {
  chains: Map<string, number>;
  natShared: readonly string[];
  filterShared: readonly string[];
}

/** 53-bit digest of a chain's rules (cyrb53): equal rules, equal digest; collisions negligible. */
export function rulesDigest(rules: readonly string[]): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (const rule of rules) {
    for (let i = 0; i < rule.length; i++) {
      const c = rule.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
    h1 = Math.imul(h1 ^ 10, 2654435761);
    h2 = Math.imul(h2 ^ 10, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

export function programmedOf(rules: ServiceRules): ProgrammedService {
  const chains = new Map<string, number>();
  for (const [name, r] of rules.natChains) chains.set(name, rulesDigest(r));
  return { chains, natShared: rules.natShared, filterShared: rules.filterShared };
}

/**
 * Moves the kernel from `before` to `after` for the given ServicePorts only (absent
 * from `after` means removed). Chains whose rules did not change are not sent.
 */
export function planPartial(
  before: ReadonlyMap<string, ProgrammedService>,
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
      if (old?.chains.get(chain) === rulesDigest(rules)) continue;
      natHead.push(chainLine(chain));
      for (const r of rules) natBody.push(r);
    }
    for (const chain of old?.chains.keys() ?? []) {
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
