// The unchanged client-node informers against the embedded API server.
import { CoreV1Api, DiscoveryV1Api, ListWatch, makeInformer, Watch, type KubernetesObject, type V1Node, type V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { ApiServer } from './server.ts';
import { afterThisTest, testServer } from '../test/support/apiserver.ts';

const PROXY_SELECTOR = '!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless';

function svc(name: string, labels: Record<string, string> = {}, namespace = 'default'): object {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace, labels }, spec: { clusterIP: '10.96.0.10', ports: [{ port: 80 }] } };
}

function slice(name: string, ips: string[]): object {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': name.replace(/-\w+$/, '') } },
    addressType: 'IPv4', ports: [{ port: 8080, protocol: 'TCP' }],
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
  };
}

function node(name: string): object {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: { podCIDR: '10.244.0.0/24' } };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An informer plus a log of what it reported, in order. */
function record<T extends KubernetesObject>(inf: ListWatch<T>): { events: string[]; errors: unknown[] } {
  const log = { events: [] as string[], errors: [] as unknown[] };
  for (const verb of ['add', 'update', 'delete'] as const) {
    inf.on(verb, (o) => log.events.push(`${verb} ${o.metadata?.name ?? ''}`));
  }
  inf.on('error', (err) => log.errors.push(err));
  return log;
}


function serviceInformer(s: ApiServer, labelSelector?: string, onList?: () => void): ListWatch<V1Service> {
  const api = s.kubeConfig().makeApiClient(CoreV1Api);
  const inf = makeInformer(s.kubeConfig(), '/api/v1/services', () => {
    onList?.();
    return api.listServiceForAllNamespaces({ labelSelector });
  }, labelSelector) as ListWatch<V1Service>;
  afterThisTest(() => inf.stop());
  return inf;
}

// Generous timeouts: these run beside real-kernel tests on two shared cores.
describe('client-node informers', { timeout: 30_000 }, () => {
  it('lists, then sees creates, updates and deletes; start() resolves after the initial list', async () => {
    const s = await testServer({ objects: [svc('a'), svc('b', {}, 'other'), slice('a-1', ['10.0.0.1'])] });
    const inf = serviceInformer(s);
    const log = record(inf);
    await inf.start();
    expect(log.events.sort()).toEqual(['add a', 'add b']);
    expect(inf.list().map((o) => o.metadata?.name).sort()).toEqual(['a', 'b']);

    s.create(svc('c'));
    s.apply({ ...svc('a'), spec: { clusterIP: '10.96.0.11' } });
    s.remove('Service', 'other', 'b');
    await waitFor('three events', () => log.events.length === 5);
    expect(log.events.slice(2)).toEqual(['add c', 'update a', 'delete b']);
    expect(inf.get('a', 'default')?.spec?.clusterIP).toBe('10.96.0.11');
    expect(inf.latestResourceVersion()).toBe(s.resourceVersion);

    const slices = s.kubeConfig().makeApiClient(DiscoveryV1Api);
    const sinf = makeInformer(s.kubeConfig(), '/apis/discovery.k8s.io/v1/endpointslices', () => slices.listEndpointSliceForAllNamespaces());
    afterThisTest(() => sinf.stop());
    await sinf.start();
    expect(sinf.list().map((o) => o.metadata?.name)).toEqual(['a-1']);
  });

  it('filters by label selector, turning moves in and out of the selector into add and delete', async () => {
    const s = await testServer({ objects: [svc('plain'), svc('headless', { 'service.kubernetes.io/headless': '' }), svc('other-proxy', { 'service.kubernetes.io/service-proxy-name': 'x' })] });
    const inf = serviceInformer(s, PROXY_SELECTOR);
    const log = record(inf);
    await inf.start();
    expect(log.events).toEqual(['add plain']);

    s.apply(svc('plain', { 'service.kubernetes.io/headless': '' }));
    s.apply(svc('headless'));
    s.apply(svc('other-proxy', { 'service.kubernetes.io/service-proxy-name': 'y' }));
    s.create(svc('new'));
    await waitFor('moves', () => log.events.length === 4);
    expect(log.events.slice(1)).toEqual(['delete plain', 'add headless', 'add new']);
    expect(inf.list().map((o) => o.metadata?.name).sort()).toEqual(['headless', 'new']);
  });

  it('filters Nodes by field selector', async () => {
    const s = await testServer({ objects: [node('node-a'), node('node-b')] });
    const kc = s.kubeConfig();
    const api = kc.makeApiClient(CoreV1Api);
    const fieldSelector = 'metadata.name=node-a';
    const inf = new ListWatch<V1Node>('/api/v1/nodes', new Watch(kc), () => api.listNode({ fieldSelector }), false, undefined, fieldSelector);
    afterThisTest(() => inf.stop());
    const log = record(inf);
    await inf.start();
    s.apply({ ...node('node-b'), spec: { podCIDR: '10.244.9.0/24' } });
    s.apply({ ...node('node-a'), spec: { podCIDR: '10.244.1.0/24' } });
    s.remove('Node', undefined, 'node-b');
    await waitFor('node-a update', () => log.events.length === 2);
    expect(log.events).toEqual(['add node-a', 'update node-a']);
    expect(inf.get('node-a')?.spec?.podCIDR).toBe('10.244.1.0/24');
  });

  it('sends bookmarks to watches that ask for them; ListWatch (2.0.1) does not ask', async () => {
    const s = await testServer({ objects: [svc('a')], bookmarkIntervalMs: 50 });
    const inf = serviceInformer(s);
    await inf.start();
    const informerRv = inf.latestResourceVersion();
    const seen: { type: string; rv: string | undefined }[] = [];
    const ctl = await new Watch(s.kubeConfig()).watch('/api/v1/services', { resourceVersion: s.resourceVersion, allowWatchBookmarks: true },
      (type, obj: KubernetesObject) => seen.push({ type, rv: obj.metadata?.resourceVersion }), () => undefined);
    afterThisTest(async () => ctl.abort());
    s.create(node('n1'));
    await waitFor('bookmark at the new version', () => seen.some((e) => e.type === 'BOOKMARK' && e.rv === s.resourceVersion));
    expect(seen.every((e) => e.type === 'BOOKMARK')).toBe(true);
    expect(inf.latestResourceVersion()).toBe(informerRv);
  });

  it.each(['event', 'http'] as const)('relists after compaction when its rewatch gets 410 Gone (as %s)', async (goneAs) => {
    const s = await testServer({ objects: [svc('a')], goneAs });
    let lists = 0;
    const inf = serviceInformer(s, undefined, () => lists++);
    const log = record(inf);
    await inf.start();
    s.compact();
    s.endWatches();
    await waitFor('relist', () => lists === 2);
    // The relisted version is new enough to watch from: the informer is live again without an error.
    await waitFor('rewatch', () => s.watchCount === 1, 3000);
    s.create(svc('b'));
    await waitFor('add b', () => log.events.includes('add b'));
    expect(log.errors).toEqual([]);
    expect(log.events).toEqual(['add a', 'add b']);
  });

  it('stops with an error when its watch is cut, and start() catches up from its last version', async () => {
    const s = await testServer({ objects: [svc('a'), svc('b')] });
    let lists = 0;
    const inf = serviceInformer(s, undefined, () => lists++);
    const log = record(inf);
    await inf.start();
    s.dropWatches();
    await waitFor('error', () => log.errors.length === 1);
    // client-node does not reconnect after an error: nothing watches until the caller restarts it.
    await new Promise((r) => setTimeout(r, 200));
    expect(s.watchCount).toBe(0);
    s.remove('Service', 'default', 'a');
    s.create(svc('c'));
    await inf.start();
    await waitFor('catch-up', () => log.events.length === 4);
    expect(log.events.slice(2)).toEqual(['delete a', 'add c']);
    expect(lists).toBe(1);
  });

  it('survives the server going away and coming back on the same port', async () => {
    const s = await testServer({ objects: [svc('a'), svc('b')] });
    const port = s.port;
    const inf = serviceInformer(s);
    const log = record(inf);
    // The restart-on-error loop every caller of client-node informers needs.
    let restarts = 0;
    inf.on('error', () => {
      restarts++;
      setTimeout(() => void inf.start().catch(() => undefined), 50);
    });
    await inf.start();
    await s.stop();
    await waitFor('error', () => log.errors.length >= 1);
    s.remove('Service', 'default', 'a');
    s.create(svc('c'));
    s.compact(); // and history is gone too, so the informer must relist
    await new Promise((r) => setTimeout(r, 200));
    await s.start();
    expect(s.port).toBe(port);
    await waitFor('resync', () => log.events.includes('add c') && log.events.includes('delete a'));
    expect(inf.list().map((o) => o.metadata?.name).sort()).toEqual(['b', 'c']);
    expect(restarts).toBeGreaterThanOrEqual(1);
    s.create(svc('d'));
    await waitFor('add d', () => log.events.includes('add d'));
  });

  it('takes writes from the typed client: create, JSON patch, status replace, delete', async () => {
    const s = await testServer();
    const core = s.kubeConfig().makeApiClient(CoreV1Api);
    const inf = serviceInformer(s);
    const log = record(inf);
    await inf.start();
    await core.createNamespacedService({ namespace: 'default', body: svc('t') as V1Service });
    const patched = await core.patchNamespacedService({ namespace: 'default', name: 't', body: [{ op: 'replace', path: '/spec/clusterIP', value: '10.96.0.99' }] });
    expect(patched.spec?.clusterIP).toBe('10.96.0.99');
    const lb = await core.replaceNamespacedServiceStatus({ namespace: 'default', name: 't', body: { ...patched, status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } } });
    expect(lb.status?.loadBalancer?.ingress?.[0]?.ip).toBe('192.0.2.1');
    await core.deleteNamespacedService({ namespace: 'default', name: 't' });
    await waitFor('four events', () => log.events.length === 4);
    expect(log.events).toEqual(['add t', 'update t', 'update t', 'delete t']);
    await expect(core.readNamespacedService({ namespace: 'default', name: 't' })).rejects.toMatchObject({ code: 404 });
  });

  it('serves on IPv6 loopback', async () => {
    const s = await testServer({ listen: '[::1]:0', objects: [node('node-a')] });
    expect(s.url).toMatch(/^http:\/\/\[::1\]:\d+$/);
    const nodes = await s.kubeConfig().makeApiClient(CoreV1Api).listNode();
    expect(nodes.items.map((n) => n.metadata?.name)).toEqual(['node-a']);
  });

  it('pages a list with limit and continue through the typed API', async () => {
    const s = await testServer({ objects: Array.from({ length: 25 }, (_, i) => svc(`s${String(i).padStart(2, '0')}`)) });
    const api = s.kubeConfig().makeApiClient(CoreV1Api);
    const names: string[] = [];
    const versions = new Set<string>();
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await api.listServiceForAllNamespaces({ limit: 10, _continue: token });
      pages++;
      names.push(...page.items.map((o) => o.metadata?.name ?? ''));
      versions.add(page.metadata?.resourceVersion ?? '');
      token = page.metadata?._continue;
      if (pages === 1) {
        expect(page.metadata?.remainingItemCount).toBe(15);
        s.create(svc('s99'));
      }
    } while (token);
    expect(pages).toBe(3);
    expect(names).toHaveLength(26);
    expect(versions.size).toBe(1);
  });
});
