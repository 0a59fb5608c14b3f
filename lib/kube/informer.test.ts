// The object-less informer against the embedded API server (the real wire protocol).
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { ApiServer } from '../../apiserver/server.ts';
import { afterThisTest, testServer } from '../../test/support/apiserver.ts';
import { createLogger } from '../log.ts';
import { Informer, type InformerOptions } from './informer.ts';

const log = createLogger('test', 'silent');

function svc(name: string, opts: { labels?: Record<string, string>; ip?: string } = {}): object {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, namespace: 'default', labels: opts.labels ?? {} },
    spec: { clusterIP: opts.ip ?? '10.96.0.10', ports: [{ port: 80 }] },
  };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}


interface Recorded {
  inf: Informer;
  /** "upsert name" / "delete name", in order. */
  events: string[];
  /** What each delete carried. */
  deleted: unknown[];
}

function informer(api: ApiServer, opts: Partial<InformerOptions> = {}): Recorded {
  const events: string[] = [];
  const deleted: unknown[] = [];
  const name = (o: unknown) => (o as { metadata: { name: string } }).metadata.name;
  const inf = new Informer(api.kubeConfig(), { what: 'services', path: '/api/v1/services', backoffMs: { first: 20, max: 100 }, ...opts }, {
    upsert: (o) => events.push(`upsert ${name(o)}`),
    delete: (o) => {
      events.push(`delete ${name(o)}`);
      deleted.push(o);
    },
  }, log);
  afterThisTest(() => inf.stop());
  inf.start();
  return { inf, events, deleted };
}

describe('Informer', () => {
  it('lists, then delivers adds, updates and deletes as plain JSON', async () => {
    const api = await testServer({ objects: [svc('a')] });
    const r = informer(api);
    await r.inf.synced;
    expect(r.events).toEqual(['upsert a']);
    api.apply(svc('b'));
    api.apply(svc('a', { ip: '10.96.0.11' }));
    api.remove('Service', 'default', 'b');
    await waitFor('delete b', () => r.events.length === 4);
    expect(r.events).toEqual(['upsert a', 'upsert b', 'upsert a', 'delete b']);
    // The watch's delete carries the last version, labels and all.
    expect(r.deleted[0]).toMatchObject({ kind: 'Service', spec: { clusterIP: '10.96.0.10' } });
  });

  it('lists in pages and asks with the label and field selectors', async () => {
    const objects = Array.from({ length: 25 }, (_, i) => svc(`s${i}`, { labels: i % 5 === 0 ? { 'service.kubernetes.io/headless': '' } : {} }));
    const api = await testServer({ objects });
    const r = informer(api, { pageSize: 4, labelSelector: '!service.kubernetes.io/headless', fieldSelector: 'metadata.namespace=default' });
    await r.inf.synced;
    expect(r.events).toHaveLength(20);
    expect(new Set(r.events).size).toBe(20);
    expect(r.events).not.toContain('upsert s5');
    api.apply(svc('s5', { labels: {} }));
    await waitFor('s5 selected', () => r.events.includes('upsert s5'));
  });

  for (const goneAs of ['event', 'http'] as const) {
    it(`relists after a 410 (${goneAs}), delivering only what changed`, async () => {
      const api = await testServer({ objects: [svc('a'), svc('b')], goneAs });
      const r = informer(api);
      await r.inf.synced;
      api.apply(svc('c'));
      await waitFor('c', () => r.events.includes('upsert c'));
      const lists = () => r.events.length;
      const before = lists();
      api.compact();
      api.endWatches();
      api.apply(svc('d'));
      await waitFor('d after the relist', () => r.events.includes('upsert d'));
      // a, b and c kept their versions: the relist delivers none of them again.
      expect(r.events.slice(before)).toEqual(['upsert d']);
    });
  }

  it('restarts after a dropped connection, relisting and deleting what vanished meanwhile', async () => {
    const api = await testServer({ objects: [svc('a'), svc('b'), svc('c')] });
    const r = informer(api);
    await r.inf.synced;
    await api.stop();
    api.remove('Service', 'default', 'b');
    api.apply(svc('c', { ip: '10.96.0.12' }));
    await new Promise((res) => setTimeout(res, 100));
    await api.start();
    await waitFor('b deleted and c updated', () => r.events.includes('delete b') && r.events.filter((e) => e === 'upsert c').length === 2);
    expect(r.deleted).toEqual([{ metadata: { namespace: 'default', name: 'b' } }]);
    api.apply(svc('e'));
    await waitFor('watching again', () => r.events.includes('upsert e'));
  });

  it('rewatches after dropWatches() and misses nothing', async () => {
    const api = await testServer({ objects: [svc('a')] });
    const r = informer(api);
    await r.inf.synced;
    api.dropWatches();
    api.remove('Service', 'default', 'a');
    api.apply(svc('b'));
    await waitFor('delete a, upsert b', () => r.events.includes('delete a') && r.events.includes('upsert b'));
    expect(r.events.filter((e) => e === 'delete a')).toHaveLength(1);
  });

  it('follows BOOKMARKs through a quiet period, so a rewatch after compaction resumes without a relist', async () => {
    const requests: { list: number; watchFrom: string[] } = { list: 0, watchFrom: [] };
    const api = await testServer({
      objects: [svc('a')],
      bookmarkIntervalMs: 20,
      onRequest: (req) => {
        const q = new URL(req.url ?? '/', 'http://x').searchParams;
        if (!req.url?.startsWith('/api/v1/services')) return;
        if (q.get('watch') === 'true') requests.watchFrom.push(q.get('resourceVersion') ?? '');
        else requests.list++;
      },
    });
    const r = informer(api);
    await r.inf.synced;
    const listed = api.resourceVersion;
    expect(r.inf.lastSyncResourceVersion).toBe(listed);
    // Quiet for Services while other resources move the cluster's version on.
    for (const n of ['n1', 'n2', 'n3']) api.apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: n } });
    const latest = api.resourceVersion;
    expect(Number(latest)).toBeGreaterThan(Number(listed));
    await waitFor('a bookmark at the latest version', () => r.inf.lastSyncResourceVersion === latest, 3000);
    // History before the bookmark is compacted away: a watch from the listed version would get 410.
    api.compact(latest);
    api.endWatches();
    await waitFor('the rewatch', () => requests.watchFrom.length === 2);
    api.apply(svc('b'));
    await waitFor('b', () => r.events.includes('upsert b'));
    expect(requests).toEqual({ list: 1, watchFrom: [listed, latest] });
    expect(r.events).toEqual(['upsert a', 'upsert b']);
  });

  it('keeps retrying a list that fails and resolves synced when it works', async () => {
    const api = await testServer({ objects: [svc('a')] });
    await api.stop();
    const r = informer(api);
    let synced = false;
    void r.inf.synced.then(() => (synced = true));
    await new Promise((res) => setTimeout(res, 150));
    expect(synced).toBe(false);
    await api.start();
    await r.inf.synced;
    expect(r.events).toEqual(['upsert a']);
  });

  it('counts an optional resource the server does not serve (404) as listed and empty, logging once', async () => {
    const api = await testServer({ objects: [svc('a')] });
    const lines: { level: number; msg: string }[] = [];
    const capture = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l) as { level: number; msg: string }) });
    const missing = { what: 'servicecidrs', path: '/apis/networking.k8s.io/v1beta9/servicecidrs', backoffMs: { first: 10, max: 30 } };
    const events: string[] = [];
    const inf = new Informer(api.kubeConfig(), { ...missing, optional: true }, { upsert: () => events.push('upsert'), delete: () => events.push('delete') }, capture);
    afterThisTest(() => inf.stop());
    inf.start();
    await inf.synced;
    // Several more looks (every backoffMs.max), all quiet.
    await new Promise((res) => setTimeout(res, 150));
    expect(events).toEqual([]);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([[30, 'the API server does not serve this resource; treating it as empty']]);

    // The same 404 on a required resource is a failure: retried, never synced.
    const required = informer(api, missing);
    let synced = false;
    void required.inf.synced.then(() => (synced = true));
    await new Promise((res) => setTimeout(res, 100));
    expect(synced).toBe(false);
  });
});
