// Desired state versus what the kernel holds -> the one transaction that makes them
// equal. Pure. Two entry points: `diffChanges` for a partial sync (the changes the
// desired table recorded since the last sync), `diffFull` for a full sync against
// the names of the chains and sets the kernel's table holds. Operation order makes every reference valid
// at each step: objects are created before anything points at them and deleted
// after everything that pointed at them is gone.
import type { Changes, ChainState, ElementView } from './state.ts';
import { Transaction, type ChainSpec, type ElementEntries, type NftFamily, type SetSpec } from './transaction.ts';

/**
 * The parts of the kernel's table a full sync compares against: names only. Elements
 * are not compared but rewritten (listing 230,000 of them costs nft alone 4 s and the
 * JSON hundreds of MB here, against 1.6 s to flush and re-add them).
 */
export interface KernelTable {
  chains: ReadonlySet<string>;
  /** Set or map name -> which of the two. */
  sets: ReadonlyMap<string, 'set' | 'map'>;
}

/** The read-only view of the desired table a full sync needs. */
export interface DesiredView {
  chains(): Iterable<ChainState>;
  sets(): Iterable<SetSpec>;
  elements(set: string): ElementView;
}

/** Elements of one set to add or delete. */
interface ElementBatch {
  set: string;
  entries: ElementEntries;
  count: number;
}

interface Plan {
  addTable: boolean;
  addSets: SetSpec[];
  addChains: ChainSpec[];
  /** Sets and maps emptied before their elements are re-added (full sync). */
  flushSets: SetSpec[];
  deleteElements: ElementBatch[];
  flushChains: ChainSpec[];
  /** Chains whose rules are (re)written, after any flush. */
  writeChains: ChainState[];
  addElements: ElementBatch[];
  deleteChains: ChainSpec[];
  deleteSets: SetSpec[];
}

const emptyPlan = (): Plan => ({
  addTable: false, addSets: [], addChains: [], flushSets: [], deleteElements: [], flushChains: [], writeChains: [], addElements: [], deleteChains: [], deleteSets: [],
});

function toTransaction(family: NftFamily, table: string, p: Plan): Transaction {
  const tx = new Transaction(family, table);
  if (p.addTable) tx.add({ verb: 'add', type: 'table' });
  for (const set of p.addSets) tx.add({ verb: 'add', type: 'set', set });
  for (const chain of p.addChains) tx.add({ verb: 'add', type: 'chain', chain });
  for (const set of p.flushSets) tx.add({ verb: 'flush', type: 'set', set });
  for (const b of p.deleteElements) tx.add({ verb: 'delete', type: 'elements', ...b });
  for (const chain of p.flushChains) tx.add({ verb: 'flush', type: 'chain', chain });
  for (const c of p.writeChains) for (const rule of c.rules) tx.add({ verb: 'add', type: 'rule', chain: c.spec.name, rule });
  for (const b of p.addElements) tx.add({ verb: 'add', type: 'elements', ...b });
  for (const chain of p.deleteChains) tx.add({ verb: 'flush', type: 'chain', chain });
  // Stale maps may still point at stale chains: maps go first, then the (empty) chains.
  for (const set of p.deleteSets) tx.add({ verb: 'delete', type: 'set', set });
  for (const chain of p.deleteChains) tx.add({ verb: 'delete', type: 'chain', chain });
  return tx;
}

const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Sorted by chain name, so that rendering is deterministic. */
function sortChains(p: Plan): Plan {
  p.addSets.sort(byName);
  p.addChains.sort(byName);
  p.flushSets.sort(byName);
  p.flushChains.sort(byName);
  p.writeChains.sort((a, b) => byName(a.spec, b.spec));
  p.deleteChains.sort(byName);
  p.deleteSets.sort(byName);
  return p;
}

export function diffChanges(family: NftFamily, table: string, changes: Changes): Transaction {
  const p = emptyPlan();
  const deletedSets = new Set<string>();
  for (const [name, { before, after }] of changes.sets) {
    if (!before && after) p.addSets.push(after);
    else if (before && !after) { p.deleteSets.push(before); deletedSets.add(name); }
  }
  for (const { before, after } of changes.chains.values()) {
    if (after) {
      if (!before) p.addChains.push(after.spec);
      else p.flushChains.push(after.spec);
      p.writeChains.push(after);
    } else if (before) {
      p.deleteChains.push(before.spec);
    }
  }
  for (const set of [...changes.elements.keys()].sort()) {
    const keys = changes.elements.get(set) as Map<string, { before: string | undefined; after: string | undefined }>;
    const del = new Map<string, string>();
    const add = new Map<string, string>();
    for (const [key, { before, after }] of [...keys].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (before !== undefined && !deletedSets.has(set)) del.set(key, before);
      if (after !== undefined) add.set(key, after);
    }
    p.deleteElements.push({ set, entries: del, count: del.size });
    p.addElements.push({ set, entries: add, count: add.size });
  }
  return toTransaction(family, table, sortChains(p));
}

/**
 * Every desired chain is rewritten (there are few) and every set's elements (flushed
 * and re-added in the same atomic batch, so packets never see them missing); chains
 * and sets the kernel has beyond the desired ones are deleted.
 */
export function diffFull(family: NftFamily, table: string, desired: DesiredView, kernel: KernelTable | undefined): Transaction {
  const p = emptyPlan();
  // An empty table and no table list alike; adding an existing table changes nothing.
  p.addTable = true;
  const kChains = kernel?.chains ?? new Set<string>();
  const kSets = kernel?.sets ?? new Map<string, 'set' | 'map'>();
  const wantedChains = new Set<string>();
  for (const c of desired.chains()) {
    wantedChains.add(c.spec.name);
    if (kChains.has(c.spec.name)) p.flushChains.push(c.spec);
    else p.addChains.push(c.spec);
    p.writeChains.push(c);
  }
  for (const name of kChains) if (!wantedChains.has(name)) p.deleteChains.push({ name });
  const wantedSets = new Set<string>();
  for (const s of desired.sets()) {
    wantedSets.add(s.name);
    if (!kSets.has(s.name)) p.addSets.push(s);
    // Members of dynamic sets are written by packets, not by us.
    if (s.flags?.includes('dynamic')) continue;
    if (kSets.has(s.name)) p.flushSets.push(s);
    const want = desired.elements(s.name);
    p.addElements.push({ set: s.name, entries: want, count: want.size });
  }
  for (const [name, kind] of kSets) if (!wantedSets.has(name)) p.deleteSets.push({ name, kind, type: '' });
  return toTransaction(family, table, sortChains(p));
}
