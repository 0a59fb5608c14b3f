import { describe, expect, it } from 'vitest';
import { RESOURCES, type ResourceType } from './resources.ts';
import { parseLabelSelector } from './selectors.ts';
import { ApiError } from './status.ts';
import { Store, type StoreEvent } from './store.ts';

function resource(kind: string): ResourceType {
  const r = RESOURCES.find((x) => x.kind === kind);
  if (!r) throw new Error(kind);
  return r;
}
const SVC = resource('Service');
const SLICE = resource('EndpointSlice');
const NODE = resource('Node');

function svc(name: string, extra: Record<string, unknown> = {}, namespace = 'default'): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { clusterIP: '10.96.0.1' }, ...extra };
}

function slice(name: string, endpoints: unknown): Record<string, unknown> {
  return { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, namespace: 'default' }, addressType: 'IPv4', endpoints };
}

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return `${err.httpCode} ${err.reason}`;
    throw err;
  }
  return 'no error';
}

describe('Store writes', () => {
  it('fills server-owned metadata and bumps one global resourceVersion', () => {
    const store = new Store({ now: () => new Date('2025-01-02T03:04:05.678Z') });
    const a = store.create(svc('a'));
    const n = store.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n', namespace: 'ignored' } });
    expect(a.obj.metadata).toMatchObject({ name: 'a', namespace: 'default', resourceVersion: '2', creationTimestamp: '2025-01-02T03:04:05Z' });
    expect(a.obj.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.obj.metadata.generation).toBeUndefined();
    expect(n.obj.metadata).not.toHaveProperty('namespace');
    expect(n.rv).toBe(3);
    expect(store.resourceVersion).toBe(3);
  });

  it('keeps malformed spec contents as given', () => {
    const store = new Store();
    const e = store.create(slice('bad', 'not-a-list'));
    expect(e.obj.endpoints).toBe('not-a-list');
    expect(JSON.parse(e.json).endpoints).toBe('not-a-list');
  });

  it('rejects objects without identity with 4xx Status errors', () => {
    const store = new Store();
    expect(reason(() => store.create({ apiVersion: 'v1', kind: 'Service', metadata: {} }))).toBe('422 Invalid');
    expect(reason(() => store.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' } }))).toBe('422 Invalid');
    expect(reason(() => store.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x', namespace: 'd' } }))).toBe('400 BadRequest');
    expect(reason(() => store.create(svc('a', { metadata: { name: 'a', namespace: 'd', labels: { x: 1 } } })))).toBe('422 Invalid');
    store.create(svc('a'));
    expect(reason(() => store.create(svc('a')))).toBe('409 AlreadyExists');
    expect(reason(() => store.get(SVC, 'default', 'zz'))).toBe('404 NotFound');
    expect(reason(() => store.update(svc('zz')))).toBe('404 NotFound');
  });

  it('updates with optimistic concurrency, keeps uid and skips no-op writes', () => {
    const store = new Store();
    const a = store.create(svc('a'));
    const stale = { ...svc('a', { spec: { clusterIP: '10.96.0.2' } }), metadata: { name: 'a', namespace: 'default', resourceVersion: '1' } };
    expect(reason(() => store.update(stale))).toBe('409 Conflict');
    const b = store.update({ ...stale, metadata: { ...stale.metadata, resourceVersion: a.obj.metadata.resourceVersion } });
    expect(b.rv).toBe(a.rv + 1);
    expect(b.obj.metadata.uid).toBe(a.obj.metadata.uid);
    expect(b.obj.metadata.creationTimestamp).toBe(a.obj.metadata.creationTimestamp);
    // Same content, keys in another order: nothing is written.
    const same = store.update({ spec: { clusterIP: '10.96.0.2' }, metadata: { namespace: 'default', name: 'a' }, kind: 'Service', apiVersion: 'v1' });
    expect(same.rv).toBe(b.rv);
    expect(store.resourceVersion).toBe(b.rv);
  });

  it('bumps generation only for changes outside metadata and status, on types that have it', () => {
    const store = new Store();
    expect(store.create(slice('s', [])).obj.metadata.generation).toBe(1);
    expect(store.update({ ...slice('s', []), metadata: { name: 's', namespace: 'default', labels: { a: 'b' } } }).obj.metadata.generation).toBe(1);
    expect(store.update(slice('s', [{ addresses: ['10.0.0.1'] }])).obj.metadata.generation).toBe(2);
  });

  it('separates main and status writes for types with a status subresource', () => {
    const store = new Store();
    store.create(svc('lb', { status: { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } } }));
    const main = store.update(svc('lb', { spec: { type: 'LoadBalancer' }, status: { loadBalancer: {} } }), 'main');
    expect(main.obj.status).toEqual({ loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } });
    const status = store.update(svc('lb', { spec: { type: 'ClusterIP' }, status: { loadBalancer: {} } }), 'status');
    expect(status.obj.spec).toEqual({ type: 'LoadBalancer' });
    expect(status.obj.status).toEqual({ loadBalancer: {} });
  });

  it('deletes with the deletion resourceVersion and honours preconditions', () => {
    const store = new Store();
    const a = store.create(svc('a'));
    expect(reason(() => store.delete(SVC, 'default', 'a', { resourceVersion: '999' }))).toBe('409 Conflict');
    const d = store.delete(SVC, 'default', 'a', { uid: a.obj.metadata.uid });
    expect(d.rv).toBe(a.rv + 1);
    expect(d.obj.metadata.resourceVersion).toBe(String(d.rv));
    expect(reason(() => store.get(SVC, 'default', 'a'))).toBe('404 NotFound');
  });
});

describe('Store lists', () => {
  function filled(): Store {
    const store = new Store();
    for (const ns of ['b', 'a', 'c']) {
      for (let i = 0; i < 5; i++) store.create(svc(`s${i}`, { metadata: { name: `s${i}`, namespace: ns, labels: { i: String(i % 2) } } }, ns));
    }
    store.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
    return store;
  }
  const names = (r: { items: { key: string }[] }): string[] => r.items.map((e) => e.key);

  it('lists in namespace/name order, per namespace and by selector', () => {
    const store = filled();
    expect(names(store.list(SVC)).slice(0, 6)).toEqual(['a/s0', 'a/s1', 'a/s2', 'a/s3', 'a/s4', 'b/s0']);
    expect(names(store.list(SVC, { namespace: 'b' }))).toEqual(['b/s0', 'b/s1', 'b/s2', 'b/s3', 'b/s4']);
    expect(names(store.list(SVC, { namespace: 'c', labelSelector: parseLabelSelector('i=1') }))).toEqual(['c/s1', 'c/s3']);
    expect(names(store.list(NODE))).toEqual(['n1']);
    expect(store.list(SVC).rv).toBe(store.resourceVersion);
  });

  it('chunks with limit and continue, reporting the first page version and the remaining count', () => {
    const store = filled();
    const first = store.list(SVC, { limit: 4 });
    expect(names(first)).toEqual(['a/s0', 'a/s1', 'a/s2', 'a/s3']);
    expect(first.remainingItemCount).toBe(11);
    store.create(svc('zz', {}, 'c'));
    const pages = [first];
    while (pages.at(-1)?.continue) pages.push(store.list(SVC, { limit: 4, continue: pages.at(-1)?.continue }));
    expect(pages.map((p) => p.rv)).toEqual(pages.map(() => first.rv));
    expect(pages.flatMap(names)).toHaveLength(16);
    expect(pages.at(-1)?.continue).toBeUndefined();
    const inNs = store.list(SVC, { namespace: 'b', limit: 3 });
    expect(inNs.remainingItemCount).toBe(2);
    expect(names(store.list(SVC, { namespace: 'b', limit: 3, continue: inNs.continue }))).toEqual(['b/s3', 'b/s4']);
  });

  it('expires continue tokens whose version left the history window', () => {
    const store = filled();
    const first = store.list(SVC, { limit: 2 });
    store.compact();
    expect(reason(() => store.list(SVC, { limit: 2, continue: first.continue }))).toBe('410 Expired');
    expect(reason(() => store.list(SVC, { continue: 'garbage' }))).toBe('400 BadRequest');
  });
});

describe('Store history', () => {
  it('replays changes after a version and answers undefined (410) outside the window', () => {
    const store = new Store({ historyLimit: 3 });
    const seen: StoreEvent[] = [];
    store.subscribe((e) => seen.push(e));
    const start = store.resourceVersion;
    for (let i = 0; i < 4; i++) store.create(svc(`s${i}`));
    store.update(svc('s0', { spec: {} }));
    store.delete(SVC, 'default', 's1');
    expect(seen.map((e) => e.type)).toEqual(['ADDED', 'ADDED', 'ADDED', 'ADDED', 'MODIFIED', 'DELETED']);
    expect(seen[4]?.prev?.obj.spec).toEqual({ clusterIP: '10.96.0.1' });
    const last = store.resourceVersion;
    expect(store.eventsSince(start)).toBeUndefined();
    expect(store.eventsSince(last - 4)).toBeUndefined();
    expect(store.eventsSince(last - 3)?.map((e) => e.rv)).toEqual([last - 2, last - 1, last]);
    expect(store.eventsSince(last)).toEqual([]);
  });

  it('compact moves the version on so that every version handed out so far is too old', () => {
    const store = new Store();
    store.create(svc('a'));
    const before = store.resourceVersion;
    store.compact();
    expect(store.resourceVersion).toBe(before + 1);
    expect(store.eventsSince(before)).toBeUndefined();
    expect(store.eventsSince(store.resourceVersion)).toEqual([]);
  });

  it('compact(upTo) forgets only the changes up to that version, as an etcd compaction at that revision', () => {
    const store = new Store();
    for (const n of ['a', 'b', 'c']) store.create(svc(n));
    const last = store.resourceVersion;
    store.compact(last - 1);
    expect(store.resourceVersion).toBe(last);
    expect(store.eventsSince(last - 2)).toBeUndefined();
    expect(store.eventsSince(last - 1)?.map((e) => e.rv)).toEqual([last]);
  });
});
