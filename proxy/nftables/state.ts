// What kpr wants in its table, kept as the union of contributions (one per
// ServicePort, one for the fixed skeleton). Objects several contributions share (a
// ClusterIP in cluster-ips, a DNAT chain per endpoint count, a hairpin pair) are
// reference-counted. While tracking, every change is remembered with its previous
// value until `takeChanges`, which is what a partial sync turns into a transaction.
//
// Memory (10,000 Services x 10 endpoints = 230,000 elements): an element is its key
// and value strings in one Map per set, plus three array slots in its owner's
// contribution; a reference count exists only for keys held by two or more owners.
import type { ChainSpec, SetSpec } from './transaction.ts';

export interface ChainState {
  spec: ChainSpec;
  rules: readonly string[];
}

/** Elements as flat triples `set, key, value` (value "" for sets): no object per element. */
export type ElementTriples = readonly string[];

export interface Contribution {
  chains: readonly ChainState[];
  sets: readonly SetSpec[];
  elements: ElementTriples;
}

/** Before and after of one object touched since the last `takeChanges`; undefined = absent. */
export interface Change<T> {
  before: T | undefined;
  after: T | undefined;
}

export interface Changes {
  chains: Map<string, Change<ChainState>>;
  sets: Map<string, Change<SetSpec>>;
  /** Set name -> key -> before/after value. */
  elements: Map<string, Map<string, Change<string>>>;
}

interface Counted<T> {
  value: T;
  count: number;
}

export class DesiredTable {
  private readonly contributions = new Map<string, Contribution>();
  private readonly chainMap = new Map<string, Counted<ChainState>>();
  private readonly setMap = new Map<string, Counted<SetSpec>>();
  /** Set -> key -> value of the latest writer. */
  private readonly elementMap = new Map<string, Map<string, string>>();
  /** Set -> key -> owners beyond the first, only for keys held by several owners. */
  private readonly extraOwners = new Map<string, Map<string, number>>();
  private tracking = true;
  private changedChains = new Map<string, ChainState | undefined>();
  private changedSets = new Map<string, SetSpec | undefined>();
  private changedElements = new Map<string, Map<string, string | undefined>>();

  contribution(owner: string): Contribution | undefined {
    return this.contributions.get(owner);
  }

  owners(): IterableIterator<string> {
    return this.contributions.keys();
  }

  /** Whether changes are being recorded (false after `stopTracking` until `clearChanges`). */
  get isTracking(): boolean {
    return this.tracking;
  }

  /** Replaces (or with undefined, removes) what `owner` contributes. */
  set(owner: string, next: Contribution | undefined): void {
    const prev = this.contributions.get(owner);
    if (next) this.contributions.set(owner, next);
    else this.contributions.delete(owner);
    // Add before removing, so that an object both contributions hold is never
    // seen absent in between.
    if (next) {
      for (const c of next.chains) this.ref(this.chainMap, this.changedChains, c.spec.name, c);
      for (const s of next.sets) this.ref(this.setMap, this.changedSets, s.name, s);
      const e = next.elements;
      for (let i = 0; i < e.length; i += 3) this.refElement(e[i] as string, e[i + 1] as string, e[i + 2] as string);
    }
    if (prev) {
      for (const c of prev.chains) this.unref(this.chainMap, this.changedChains, c.spec.name);
      for (const s of prev.sets) this.unref(this.setMap, this.changedSets, s.name);
      const e = prev.elements;
      for (let i = 0; i < e.length; i += 3) this.unrefElement(e[i] as string, e[i + 1] as string);
    }
  }

  chains(): IterableIterator<ChainState> {
    return mapValues(this.chainMap);
  }

  sets(): IterableIterator<SetSpec> {
    return mapValues(this.setMap);
  }

  /** Key -> value of one set's desired elements (the table's own map: read only). */
  elements(set: string): ReadonlyMap<string, string> {
    return this.elementMap.get(set) ?? EMPTY;
  }

  /** What changed since the last call (objects changed and changed back are left out). */
  takeChanges(): Changes {
    const out: Changes = { chains: new Map(), sets: new Map(), elements: new Map() };
    for (const [name, before] of this.changedChains) {
      const after = this.chainMap.get(name)?.value;
      if (!sameChain(before, after)) out.chains.set(name, { before, after });
    }
    for (const [name, before] of this.changedSets) {
      const after = this.setMap.get(name)?.value;
      if ((before === undefined) !== (after === undefined)) out.sets.set(name, { before, after });
    }
    for (const [set, keys] of this.changedElements) {
      const current = this.elementMap.get(set);
      for (const [key, before] of keys) {
        const after = current?.get(key);
        if (before === after) continue;
        let m = out.elements.get(set);
        if (!m) out.elements.set(set, (m = new Map()));
        m.set(key, { before, after });
      }
    }
    this.clearChanges();
    return out;
  }

  /** Forgets pending changes and records from now on: the kernel matches the whole desired state. */
  clearChanges(): void {
    this.changedChains = new Map();
    this.changedSets = new Map();
    this.changedElements = new Map();
    this.tracking = true;
  }

  /** Forgets pending changes and records none until `clearChanges`: a full sync will follow. */
  stopTracking(): void {
    this.clearChanges();
    this.tracking = false;
  }

  private refElement(set: string, key: string, value: string): void {
    let m = this.elementMap.get(set);
    if (!m) this.elementMap.set(set, (m = new Map()));
    // Two owners disagreeing on one key (e.g. two Services claiming one externalIP:port):
    // the latest writer wins.
    let held: boolean;
    if (this.tracking) {
      const cur = m.get(key);
      this.recordElement(set, key, cur);
      held = cur !== undefined;
      if (cur !== value) m.set(key, value);
    } else {
      // One hash lookup instead of two (full re-render of 100,000s of elements).
      const size = m.size;
      m.set(key, value);
      held = m.size === size;
    }
    if (held) {
      let extra = this.extraOwners.get(set);
      if (!extra) this.extraOwners.set(set, (extra = new Map()));
      extra.set(key, (extra.get(key) ?? 0) + 1);
    }
  }

  private unrefElement(set: string, key: string): void {
    const m = this.elementMap.get(set);
    const cur = m?.get(key);
    if (!m || cur === undefined) return;
    if (this.tracking) this.recordElement(set, key, cur);
    const extra = this.extraOwners.get(set);
    const n = extra?.get(key);
    if (extra && n !== undefined) {
      if (n > 1) extra.set(key, n - 1);
      else extra.delete(key);
    } else {
      m.delete(key);
    }
  }

  private recordElement(set: string, key: string, before: string | undefined): void {
    let m = this.changedElements.get(set);
    if (!m) this.changedElements.set(set, (m = new Map()));
    if (!m.has(key)) m.set(key, before);
  }

  private ref<T>(map: Map<string, Counted<T>>, changed: Map<string, T | undefined>, key: string, value: T): void {
    const cur = map.get(key);
    if (this.tracking && !changed.has(key)) changed.set(key, cur?.value);
    if (cur) {
      cur.count += 1;
      cur.value = value;
    } else {
      map.set(key, { value, count: 1 });
    }
  }

  private unref<T>(map: Map<string, Counted<T>>, changed: Map<string, T | undefined>, key: string): void {
    const cur = map.get(key);
    if (!cur) return;
    if (this.tracking && !changed.has(key)) changed.set(key, cur.value);
    cur.count -= 1;
    if (cur.count === 0) map.delete(key);
  }
}

const EMPTY: ReadonlyMap<string, string> = new Map();

function* mapValues<T>(m: Map<string, Counted<T>>): IterableIterator<T> {
  for (const c of m.values()) yield c.value;
}

function sameChain(a: ChainState | undefined, b: ChainState | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return a.rules.length === b.rules.length && a.rules.every((r, i) => r === b.rules[i]);
}
