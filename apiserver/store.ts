// The embedded API server's storage: plain JSON objects per resource type, a global
// resourceVersion bumped on every write, and a bounded history for watches. Pure
// (no I/O). Objects are stored as given apart from server-owned metadata: spec
// contents are never validated, so tests can inject malformed Services and slices.
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { History } from './history.ts';
import { jsonEqual } from './json.ts';
import { resourceByKind, type ResourceType } from './resources.ts';
import { matchesFields, matchesLabels, type FieldSelector, type LabelSelector } from './selectors.ts';
import { ApiError } from './status.ts';

/** A stored object: a plain JSON value with at least apiVersion, kind and metadata.name. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
  generation?: number;
  [field: string]: unknown;
}

/** One version of one object, with its serialised form cached for lists and watches. */
export interface Entry {
  readonly obj: KubeObject;
  readonly json: string;
  readonly rv: number;
  readonly key: string;
  readonly labels: Record<string, string> | undefined;
  readonly fields: Readonly<Record<string, string>>;
}

export interface StoreEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  rv: number;
  resource: ResourceType;
  entry: Entry;
  /** The previous version, for MODIFIED: watches with selectors need it to see objects move in or out. */
  prev?: Entry;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: LabelSelector;
  fieldSelector?: FieldSelector;
  limit?: number;
  continue?: string;
}

export interface ListResult {
  rv: number;
  items: Entry[];
  continue?: string;
  remainingItemCount?: number;
}

/** Which parts of the object an update may change: everything, all but status, or only status. */
export type UpdateScope = 'all' | 'main' | 'status';

export interface StoreOptions {
  /** How many recent changes a watch can resume from (default 50,000). */
  historyLimit?: number;
  now?: () => Date;
}

const objectSchema = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: z.looseObject({
    name: z.string().min(1),
    namespace: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    resourceVersion: z.string().optional(),
  }),
});

const continueSchema = z.object({ rv: z.number().int(), after: z.string() });

interface Table {
  resource: ResourceType;
  entries: Map<string, Entry>;
  /** Keys in list order (namespace/name), rebuilt lazily after creates and deletes. */
  sorted: string[] | undefined;
}

function keyOf(resource: ResourceType, namespace: string | undefined, name: string): string {
  return resource.namespaced ? `${namespace ?? ''}/${name}` : name;
}

function describe(resource: ResourceType, namespace: string | undefined, name: string): string {
  return `${resource.kind} ${resource.namespaced ? `${namespace ?? ''}/` : ''}${name}`;
}

/** Everything but metadata and status: a change here bumps metadata.generation. */
function specPart(obj: KubeObject): Record<string, unknown> {
  const { metadata: _m, status: _s, ...rest } = obj;
  return rest;
}

export class Store {
  private rvCounter = 1;
  private readonly tables = new Map<ResourceType, Table>();
  private readonly history: History;
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private readonly now: () => Date;

  constructor(opts: StoreOptions = {}) {
    this.history = new History(opts.historyLimit ?? 50_000, this.rvCounter);
    this.now = opts.now ?? (() => new Date());
  }

  get resourceVersion(): number {
    return this.rvCounter;
  }

  /** Calls `fn` synchronously after every change (used by watches). Returns the unsubscribe function. */
  subscribe(fn: (event: StoreEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Validates the object's identity and finds its resource type. */
  parse(input: unknown): { resource: ResourceType; obj: KubeObject } {
    // A JSON round trip gives a plain, serialisable copy (client-node model objects become plain too).
    const copy: unknown = input === undefined ? undefined : JSON.parse(JSON.stringify(input));
    const parsed = objectSchema.safeParse(copy);
    if (!parsed.success) {
      throw new ApiError('Invalid', `object is invalid: ${z.prettifyError(parsed.error)}`);
    }
    const obj = parsed.data as KubeObject;
    const resource = resourceByKind(obj.apiVersion, obj.kind);
    if (!resource) {
      throw new ApiError('BadRequest', `no resource for apiVersion "${obj.apiVersion}" kind "${obj.kind}"`, { object: obj.metadata.name });
    }
    if (resource.namespaced && !obj.metadata.namespace) {
      throw new ApiError('Invalid', 'metadata.namespace: Required value', {
        object: describe(resource, undefined, obj.metadata.name), details: { name: obj.metadata.name, kind: resource.plural },
      });
    }
    if (!resource.namespaced) delete obj.metadata.namespace;
    return { resource, obj };
  }

  get(resource: ResourceType, namespace: string | undefined, name: string): Entry {
    const entry = this.table(resource).entries.get(keyOf(resource, namespace, name));
    if (!entry) throw this.notFound(resource, namespace, name);
    return entry;
  }

  create(input: unknown): Entry {
    const { resource, obj } = this.parse(input);
    const table = this.table(resource);
    const key = keyOf(resource, obj.metadata.namespace, obj.metadata.name);
    if (table.entries.has(key)) {
      throw new ApiError('AlreadyExists', `${resource.plural} "${obj.metadata.name}" already exists`, {
        object: describe(resource, obj.metadata.namespace, obj.metadata.name),
        details: { name: obj.metadata.name, group: resource.group, kind: resource.plural },
      });
    }
    const meta = obj.metadata;
    meta.uid = randomUUID();
    meta.creationTimestamp = this.now().toISOString().replace(/\.\d+Z$/, 'Z');
    if (resource.hasGeneration) meta.generation = 1;
    else delete meta.generation;
    const entry = this.commit(table, key, obj);
    table.sorted = undefined;
    this.emit({ type: 'ADDED', rv: entry.rv, resource, entry });
    return entry;
  }

  /**
   * Replaces an object. A non-empty metadata.resourceVersion must match the stored one (409 otherwise).
   * Server-owned metadata is kept; an update that changes nothing stores nothing and emits no event.
   */
  update(input: unknown, scope: UpdateScope = 'all'): Entry {
    const { resource, obj } = this.parse(input);
    const table = this.table(resource);
    const key = keyOf(resource, obj.metadata.namespace, obj.metadata.name);
    const prev = table.entries.get(key);
    if (!prev) throw this.notFound(resource, obj.metadata.namespace, obj.metadata.name);
    const wanted = obj.metadata.resourceVersion;
    if (wanted && wanted !== String(prev.rv)) {
      throw new ApiError('Conflict', `Operation cannot be fulfilled on ${resource.plural} "${obj.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`, {
        object: describe(resource, obj.metadata.namespace, obj.metadata.name),
        details: { name: obj.metadata.name, group: resource.group, kind: resource.plural },
      });
    }
    let next: KubeObject = obj;
    if (scope === 'status') {
      next = structuredClone(prev.obj);
      if (obj.status === undefined) delete next.status;
      else next.status = obj.status;
    } else if (scope === 'main' && resource.hasStatus) {
      if (prev.obj.status === undefined) delete next.status;
      else next.status = structuredClone(prev.obj.status);
    }
    const meta = next.metadata;
    meta.uid = prev.obj.metadata.uid;
    meta.creationTimestamp = prev.obj.metadata.creationTimestamp;
    meta.resourceVersion = String(prev.rv);
    if (resource.hasGeneration) {
      const gen = prev.obj.metadata.generation ?? 1;
      meta.generation = jsonEqual(specPart(next), specPart(prev.obj)) ? gen : gen + 1;
    } else {
      delete meta.generation;
    }
    if (jsonEqual(next, prev.obj)) return prev;
    const entry = this.commit(table, key, next);
    this.emit({ type: 'MODIFIED', rv: entry.rv, resource, entry, prev });
    return entry;
  }

  /** Creates the object, or replaces it unconditionally when it exists. */
  apply(input: unknown): Entry {
    const { resource, obj } = this.parse(input);
    if (!this.table(resource).entries.has(keyOf(resource, obj.metadata.namespace, obj.metadata.name))) {
      return this.create(obj);
    }
    delete obj.metadata.resourceVersion;
    return this.update(obj);
  }

  /** Deletes an object; the returned version carries the deletion's resourceVersion, as DELETED events do. */
  delete(resource: ResourceType, namespace: string | undefined, name: string, precondition?: { resourceVersion?: string; uid?: string }): Entry {
    const table = this.table(resource);
    const key = keyOf(resource, namespace, name);
    const prev = table.entries.get(key);
    if (!prev) throw this.notFound(resource, namespace, name);
    if ((precondition?.resourceVersion && precondition.resourceVersion !== String(prev.rv))
      || (precondition?.uid && precondition.uid !== prev.obj.metadata.uid)) {
      throw new ApiError('Conflict', `Operation cannot be fulfilled on ${resource.plural} "${name}": precondition failed`, {
        object: describe(resource, namespace, name), details: { name, group: resource.group, kind: resource.plural },
      });
    }
    table.entries.delete(key);
    table.sorted = undefined;
    const obj = structuredClone(prev.obj);
    const entry = this.makeEntry(key, obj, ++this.rvCounter);
    this.emit({ type: 'DELETED', rv: entry.rv, resource, entry });
    return entry;
  }

  /**
   * Lists in key order. With `limit`, returns a continue token; a continued list reports the first
   * page's resourceVersion and fails with 410 Expired once that version has left the history window.
   */
  list(resource: ResourceType, opts: ListOptions = {}): ListResult {
    const table = this.table(resource);
    const sorted = (table.sorted ??= [...table.entries.keys()].sort());
    let rv = this.rvCounter;
    let start = 0;
    if (opts.continue) {
      const token = this.decodeContinue(opts.continue);
      if (token.rv < this.history.oldestServable()) {
        throw new ApiError('Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
      }
      rv = token.rv;
      start = upperBound(sorted, token.after);
    }
    const prefix = resource.namespaced && opts.namespace ? `${opts.namespace}/` : '';
    if (prefix) start = Math.max(start, lowerBound(sorted, prefix));
    const items: Entry[] = [];
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    let i = start;
    for (; i < sorted.length && items.length < limit; i++) {
      const key = sorted[i] as string;
      if (prefix && !key.startsWith(prefix)) break;
      const entry = table.entries.get(key);
      if (entry && this.matches(entry, opts.labelSelector, opts.fieldSelector)) items.push(entry);
    }
    const result: ListResult = { rv, items };
    const more = i < sorted.length && (!prefix || (sorted[i] as string).startsWith(prefix));
    if (more && items.length > 0) {
      result.continue = Buffer.from(JSON.stringify({ rv, after: items[items.length - 1]?.key ?? '' })).toString('base64url');
      if (!opts.labelSelector?.length && !opts.fieldSelector?.length) {
        result.remainingItemCount = prefix ? countPrefix(sorted, i, prefix) : sorted.length - i;
      }
    }
    return result;
  }

  matches(entry: Entry, labels: LabelSelector | undefined, fields: FieldSelector | undefined): boolean {
    return (!labels || matchesLabels(labels, entry.labels)) && (!fields || matchesFields(fields, entry.fields));
  }

  /** The changes after `rv` for a watch to replay, or undefined when `rv` has left the history window. */
  eventsSince(rv: number): StoreEvent[] | undefined {
    return this.history.since(rv);
  }

  /**
   * Forgets all history, as an etcd compaction followed by a watch-cache restart would: the
   * resourceVersion moves on by one so that a watch from any version handed out so far gets 410 Gone
   * and its client must relist. With `upTo`, forgets only the changes up to that version (a
   * compaction at that revision): watches from it or later still resume.
   */
  compact(upTo?: number): void {
    if (upTo === undefined) this.history.forgetUpTo(++this.rvCounter);
    else this.history.forgetUpTo(Math.min(upTo, this.rvCounter));
  }

  private commit(table: Table, key: string, obj: KubeObject): Entry {
    const entry = this.makeEntry(key, obj, ++this.rvCounter);
    table.entries.set(key, entry);
    return entry;
  }

  private makeEntry(key: string, obj: KubeObject, rv: number): Entry {
    obj.metadata.resourceVersion = String(rv);
    const fields: Record<string, string> = { 'metadata.name': obj.metadata.name };
    if (obj.metadata.namespace !== undefined) fields['metadata.namespace'] = obj.metadata.namespace;
    return { obj, json: JSON.stringify(obj), rv, key, labels: obj.metadata.labels, fields };
  }

  private emit(event: StoreEvent): void {
    this.history.add(event);
    for (const fn of this.listeners) fn(event);
  }

  private table(resource: ResourceType): Table {
    let table = this.tables.get(resource);
    if (!table) {
      table = { resource, entries: new Map(), sorted: undefined };
      this.tables.set(resource, table);
    }
    return table;
  }

  private notFound(resource: ResourceType, namespace: string | undefined, name: string): ApiError {
    return new ApiError('NotFound', `${resource.plural} "${name}" not found`, {
      object: describe(resource, namespace, name), details: { name, group: resource.group, kind: resource.plural },
    });
  }

  private decodeContinue(token: string): z.infer<typeof continueSchema> {
    try {
      return continueSchema.parse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
    } catch (err) {
      throw new ApiError('BadRequest', `invalid continue token: ${token}`, { cause: err });
    }
  }
}

/** Index of the first key greater than `key`. */
function upperBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first key not less than `key`. */
function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function countPrefix(sorted: readonly string[], from: number, prefix: string): number {
  return lowerBound(sorted, prefix + '\uffff') - from;
}
