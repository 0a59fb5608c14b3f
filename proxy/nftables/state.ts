// What kpr wants in its table, kept as the union of contributions (one per
// ServicePort, one for the fixed skeleton). Objects several contributions share (a
// ClusterIP in cluster-ips, a DNAT chain per endpoint count, a hairpin pair) are
// reference-counted. While tracking, every change is remembered with its previous
// value until `takeChanges`, which is what a partial sync turns into a transaction.
//
// Memory (10,000 Services x 10 endpoints = 230,000 elements): a plain element is its
// key and value strings in one Map per set plus three array slots in its owner's
// contribution; the endpoint maps' elements (most of them) are not stored as strings
// at all but as each frontend's slot list, the planner's own array, and spelled out
// only when written; so are the hairpin pairs, kept as the endpoint IPs themselves. A
// reference count exists only for keys held by several owners.
import { SET, hairpinKey, slotKey } from './layout.ts';
import type { ChainSpec, SetSpec } from './transaction.ts';

export interface ChainState {
  spec: ChainSpec;
  rules: readonly string[];
}

/** Elements as flat triples `set, key, value` (value "" for sets): no object per element. */
export type ElementTriples = readonly string[];

/** The elements `frontend . slot : endpoints[slot]` of an endpoint map, as the slot list. */
export interface SlotElements {
  set: string;
  frontend: string;
  /** Endpoint map data ("ip . port") by slot. */
  endpoints: readonly string[];
}

export interface Contribution {
  chains: readonly ChainState[];
  sets: readonly SetSpec[];
  elements: ElementTriples;
  slotElements: readonly SlotElements[];
  /** Endpoint IPs whose pair `ip . ip` is in the hairpin set. */
  hairpin: readonly string[];
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

/** One set's desired elements: key -> value, read only. */
export interface ElementView {
  readonly size: number;
  forEach(f: (value: string, key: string) => void): void;
}

interface Counted<T> {
  value: T;
  count: number;
}

/**
 * Group (set name) -> key -> value of the latest writer, reference-counted, with the
 * value before the first change of each key since `take`. Counts exist only for keys
 * held by several owners.
 */
class KeyedStore<V> {
  readonly groups = new Map<string, Map<string, V>>();
  private readonly extraOwners = new Map<string, Map<string, number>>();
  changed = new Map<string, Map<string, V | undefined>>();

  ref(group: string, key: string, value: V, tracking: boolean): void {
    let m = this.groups.get(group);
    if (!m) this.groups.set(group, (m = new Map()));
    // Two owners disagreeing on one key (e.g. two Services claiming one externalIP:port):
    // the latest writer wins.
    let held: boolean;
    if (tracking) {
      const cur = m.get(key);
      this.record(group, key, cur);
      held = cur !== undefined;
      if (cur !== value) m.set(key, value);
    } else {
      // One hash lookup instead of two (full re-render of 100,000s of elements).
      const size = m.size;
      m.set(key, value);
      held = m.size === size;
    }
    if (held) {
      let extra = this.extraOwners.get(group);
      if (!extra) this.extraOwners.set(group, (extra = new Map()));
      extra.set(key, (extra.get(key) ?? 0) + 1);
    }
  }

  unref(group: string, key: string, tracking: boolean): void {
    const m = this.groups.get(group);
    const cur = m?.get(key);
    if (!m || cur === undefined) return;
    if (tracking) this.record(group, key, cur);
    const extra = this.extraOwners.get(group);
    const n = extra?.get(key);
    if (extra && n !== undefined) {
      if (n > 1) extra.set(key, n - 1);
      else extra.delete(key);
    } else {
      m.delete(key);
    }
  }

  private record(group: string, key: string, before: V | undefined): void {
    let m = this.changed.get(group);
    if (!m) this.changed.set(group, (m = new Map()));
    if (!m.has(key)) m.set(key, before);
  }
}

export class DesiredTable {
  private readonly contributions = new Map<string, Contribution>();
  private readonly chainMap = new Map<string, Counted<ChainState>>();
  private readonly setMap = new Map<string, Counted<SetSpec>>();
  private readonly elementStore = new KeyedStore<string>();
  /** Endpoint map -> frontend -> endpoints by slot. */
  private readonly slotStore = new KeyedStore<readonly string[]>();
  /** The hairpin set by endpoint IP. */
  private readonly hairpinStore = new KeyedStore<string>();
  private tracking = true;
  private changedChains = new Map<string, ChainState | undefined>();
  private changedSets = new Map<string, SetSpec | undefined>();

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
    const t = this.tracking;
    // Add before removing, so that an object both contributions hold is never
    // seen absent in between.
    if (next) {
      for (const c of next.chains) this.ref(this.chainMap, this.changedChains, c.spec.name, c);
      for (const s of next.sets) this.ref(this.setMap, this.changedSets, s.name, s);
      const e = next.elements;
      for (let i = 0; i < e.length; i += 3) this.elementStore.ref(e[i] as string, e[i + 1] as string, e[i + 2] as string, t);
      for (const s of next.slotElements) this.slotStore.ref(s.set, s.frontend, s.endpoints, t);
      for (const ip of next.hairpin) this.hairpinStore.ref(SET.hairpin, ip, '', t);
    }
    if (prev) {
      for (const c of prev.chains) this.unref(this.chainMap, this.changedChains, c.spec.name);
      for (const s of prev.sets) this.unref(this.setMap, this.changedSets, s.name);
      const e = prev.elements;
      for (let i = 0; i < e.length; i += 3) this.elementStore.unref(e[i] as string, e[i + 1] as string, t);
      for (const s of prev.slotElements) this.slotStore.unref(s.set, s.frontend, t);
      for (const ip of prev.hairpin) this.hairpinStore.unref(SET.hairpin, ip, t);
    }
  }

  chains(): IterableIterator<ChainState> {
    return mapValues(this.chainMap);
  }

  sets(): IterableIterator<SetSpec> {
    return mapValues(this.setMap);
  }

  /** One set's desired elements; read only, and valid until the next `set`. */
  elements(set: string): ElementView {
    const slots = this.slotStore.groups.get(set);
    if (slots) return new SlotView(slots);
    const pairs = this.hairpinStore.groups.get(set);
    if (pairs) return new PairView(pairs);
    return this.elementStore.groups.get(set) ?? EMPTY;
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
    const changedElements = (set: string) => {
      let m = out.elements.get(set);
      if (!m) out.elements.set(set, (m = new Map()));
      return m;
    };
    for (const [set, keys] of this.elementStore.changed) {
      const current = this.elementStore.groups.get(set);
      for (const [key, before] of keys) {
        const after = current?.get(key);
        if (before !== after) changedElements(set).set(key, { before, after });
      }
    }
    for (const [set, ips] of this.hairpinStore.changed) {
      const current = this.hairpinStore.groups.get(set);
      for (const [ip, before] of ips) {
        const after = current?.get(ip);
        if (before !== after) changedElements(set).set(hairpinKey(ip), { before, after });
      }
    }
    // A frontend's slot list that changed -> the slots whose endpoint changed.
    for (const [set, frontends] of this.slotStore.changed) {
      const current = this.slotStore.groups.get(set);
      for (const [frontend, before] of frontends) {
        const after = current?.get(frontend);
        for (let i = 0; i < Math.max(before?.length ?? 0, after?.length ?? 0); i++) {
          const b = before?.[i];
          const a = after?.[i];
          if (b !== a) changedElements(set).set(slotKey(frontend, i), { before: b, after: a });
        }
      }
    }
    this.clearChanges();
    return out;
  }

  /** Forgets pending changes and records from now on: the kernel matches the whole desired state. */
  clearChanges(): void {
    this.changedChains = new Map();
    this.changedSets = new Map();
    this.elementStore.changed = new Map();
    this.slotStore.changed = new Map();
    this.hairpinStore.changed = new Map();
    this.tracking = true;
  }

  /** Forgets pending changes and records none until `clearChanges`: a full sync will follow. */
  stopTracking(): void {
    this.clearChanges();
    this.tracking = false;
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

/** An endpoint map's elements spelled out from the slot lists, as they are read. */
class SlotView implements ElementView {
  readonly size: number;

  constructor(private readonly frontends: ReadonlyMap<string, readonly string[]>) {
    let n = 0;
    for (const eps of frontends.values()) n += eps.length;
    this.size = n;
  }

  forEach(f: (value: string, key: string) => void): void {
    for (const [frontend, eps] of this.frontends) {
      for (let i = 0; i < eps.length; i++) f(eps[i] as string, slotKey(frontend, i));
    }
  }
}

/** The hairpin set spelled out from the endpoint IPs, as it is read. */
class PairView implements ElementView {
  constructor(private readonly ips: ReadonlyMap<string, string>) {}

  get size(): number {
    return this.ips.size;
  }

  forEach(f: (value: string, key: string) => void): void {
    this.ips.forEach((value, ip) => f(value, hairpinKey(ip)));
  }
}

const EMPTY: ElementView = new Map<string, string>();

function* mapValues<T>(m: Map<string, Counted<T>>): IterableIterator<T> {
  for (const c of m.values()) yield c.value;
}

function sameChain(a: ChainState | undefined, b: ChainState | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return a.rules.length === b.rules.length && a.rules.every((r, i) => r === b.rules[i]);
}
