// What kpr wants in its table, kept as the union of contributions (one per
// ServicePort, one for the fixed skeleton). Objects several contributions share (a
// ClusterIP in cluster-ips, a DNAT chain per endpoint count, a hairpin pair) are
// reference-counted. Every change is remembered with its previous value until
// `takeChanges`, which is what a partial sync turns into a transaction.
import type { ChainSpec, Element, SetSpec } from './transaction.ts';

export interface ChainState {
  spec: ChainSpec;
  rules: readonly string[];
}

export interface Contribution {
  chains: readonly ChainState[];
  sets: readonly SetSpec[];
  elements: readonly Element[];
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
  private readonly elementMap = new Map<string, Map<string, Counted<string>>>();
  private changedChains = new Map<string, ChainState | undefined>();
  private changedSets = new Map<string, SetSpec | undefined>();
  private changedElements = new Map<string, Map<string, string | undefined>>();

  contribution(owner: string): Contribution | undefined {
    return this.contributions.get(owner);
  }

  owners(): IterableIterator<string> {
    return this.contributions.keys();
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
      for (const e of next.elements) this.ref(this.elementsOf(e.set), this.changedElementsOf(e.set), e.key, e.value);
    }
    if (prev) {
      for (const c of prev.chains) this.unref(this.chainMap, this.changedChains, c.spec.name);
      for (const s of prev.sets) this.unref(this.setMap, this.changedSets, s.name);
      for (const e of prev.elements) this.unref(this.elementsOf(e.set), this.changedElementsOf(e.set), e.key);
    }
  }

  chains(): IterableIterator<ChainState> {
    return mapValues(this.chainMap);
  }

  sets(): IterableIterator<SetSpec> {
    return mapValues(this.setMap);
  }

  /** Key -> value of one set's desired elements. */
  elements(set: string): ReadonlyMap<string, Counted<string>> {
    return this.elementMap.get(set) ?? new Map();
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
        const after = current?.get(key)?.value;
        if (before === after) continue;
        let m = out.elements.get(set);
        if (!m) out.elements.set(set, (m = new Map()));
        m.set(key, { before, after });
      }
    }
    this.changedChains = new Map();
    this.changedSets = new Map();
    this.changedElements = new Map();
    return out;
  }

  /** Forgets pending changes: after a full sync the kernel matches the whole desired state. */
  clearChanges(): void {
    this.takeChanges();
  }

  private elementsOf(set: string): Map<string, Counted<string>> {
    let m = this.elementMap.get(set);
    if (!m) this.elementMap.set(set, (m = new Map()));
    return m;
  }

  private changedElementsOf(set: string): Map<string, string | undefined> {
    let m = this.changedElements.get(set);
    if (!m) this.changedElements.set(set, (m = new Map()));
    return m;
  }

  private ref<T>(map: Map<string, Counted<T>>, changed: Map<string, T | undefined>, key: string, value: T): void {
    const cur = map.get(key);
    if (!changed.has(key)) changed.set(key, cur?.value);
    // Two owners disagreeing on one key (e.g. two Services claiming one externalIP:port):
    // the latest writer wins until it goes away.
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
    if (!changed.has(key)) changed.set(key, cur.value);
    cur.count -= 1;
    if (cur.count === 0) map.delete(key);
  }
}

function* mapValues<T>(m: Map<string, Counted<T>>): IterableIterator<T> {
  for (const c of m.values()) yield c.value;
}

function sameChain(a: ChainState | undefined, b: ChainState | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return a.rules.length === b.rules.length && a.rules.every((r, i) => r === b.rules[i]);
}
