// The wire protocol as raw HTTP sees it: discovery, Status errors, writes, patches and watch streams.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from './server.ts';

let s: ApiServer;
beforeAll(async () => {
  s = await startApiServer({ bookmarkIntervalMs: 0 });
});
afterAll(async () => {
  await s.close();
});

async function call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ code: number; body: Record<string, unknown> }> {
  const res = await fetch(s.url + path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': contentType },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { code: res.status, body: (await res.json()) as Record<string, unknown> };
}

function svc(name: string, labels: Record<string, string> = {}): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'web', labels }, spec: { clusterIP: '10.96.1.1' } };
}

interface WatchEvent {
  type: string;
  object: { kind?: string; code?: number; reason?: string; metadata?: { name?: string; resourceVersion?: string } };
}

/** Opens a watch and collects its events until `count` have arrived or the stream ends. */
async function watch(path: string, count: number, during: () => void = () => undefined, headers: Record<string, string> = {}): Promise<WatchEvent[]> {
  const ctl = new AbortController();
  const res = await fetch(s.url + path, { signal: ctl.signal, headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('transfer-encoding')).toBe('chunked');
  const events: WatchEvent[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  during();
  let buffered = '';
  const timer = setTimeout(() => ctl.abort(), 10_000);
  try {
    while (events.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) events.push(JSON.parse(line) as WatchEvent);
    }
  } finally {
    clearTimeout(timer);
    ctl.abort();
  }
  return events;
}

describe('discovery', () => {
  it.each([
    ['/api', 'APIVersions'],
    ['/api/v1', 'APIResourceList'],
    ['/apis', 'APIGroupList'],
    ['/apis/discovery.k8s.io', 'APIGroup'],
    ['/apis/discovery.k8s.io/v1', 'APIResourceList'],
    ['/apis/networking.k8s.io', 'APIGroup'],
    ['/apis/networking.k8s.io/v1', 'APIResourceList'],
  ])('%s is a %s', async (path, kind) => {
    const { code, body } = await call('GET', path);
    expect(code).toBe(200);
    expect(body.kind).toBe(kind);
  });

  it('lists the served resources and the version', async () => {
    const v1 = await call('GET', '/api/v1');
    const names = (v1.body.resources as { name: string }[]).map((r) => r.name);
    expect(names).toEqual(['services', 'services/status', 'nodes', 'nodes/status', 'namespaces', 'namespaces/status', 'serviceaccounts', 'configmaps']);
    const version = await call('GET', '/version');
    expect(version.body).toMatchObject({ major: '1', gitVersion: expect.stringMatching(/^v1\./) });
  });

  it('serves ServiceCIDRs as a cluster-scoped networking.k8s.io/v1 resource', async () => {
    const groups = (await call('GET', '/apis')).body.groups as { name: string }[];
    expect(groups.map((g) => g.name)).toContain('networking.k8s.io');
    const networking = await call('GET', '/apis/networking.k8s.io/v1');
    expect(networking.body.resources).toEqual([
      expect.objectContaining({ name: 'servicecidrs', namespaced: false, kind: 'ServiceCIDR', verbs: expect.arrayContaining(['list', 'watch']) }),
      expect.objectContaining({ name: 'servicecidrs/status', kind: 'ServiceCIDR' }),
    ]);
  });
});

describe('ServiceCIDRs over HTTP', () => {
  const path = '/apis/networking.k8s.io/v1/servicecidrs';
  const cidr = (name: string, cidrs: string[]) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name }, spec: { cidrs } });

  it('creates, lists, gets, replaces, watches and deletes', async () => {
    const created = await call('POST', path, cidr('kubernetes', ['10.96.0.0/16']));
    expect(created.code).toBe(201);
    const rv = (created.body.metadata as { resourceVersion: string }).resourceVersion;
    const list = await call('GET', path);
    expect(list.body).toMatchObject({ kind: 'ServiceCIDRList', apiVersion: 'networking.k8s.io/v1' });
    expect((list.body.items as { spec: unknown }[]).map((i) => i.spec)).toEqual([{ cidrs: ['10.96.0.0/16'] }]);
    expect((await call('GET', `${path}/kubernetes`)).body).toMatchObject({ kind: 'ServiceCIDR', metadata: { name: 'kubernetes' } });
    expect((await call('POST', '/apis/networking.k8s.io/v1/namespaces/web/servicecidrs', cidr('x', []))).code).toBe(404);

    const events = await watch(`${path}?watch=true&resourceVersion=${rv}`, 2, () => {
      s.apply(cidr('kubernetes', ['10.96.0.0/16', 'fd00:96::/112']));
      s.create(cidr('extra', ['10.97.0.0/16']));
    });
    expect(events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['MODIFIED kubernetes', 'ADDED extra']);

    const current = (await call('GET', `${path}/kubernetes`)).body;
    const replaced = await call('PUT', `${path}/kubernetes`, { ...current, spec: { cidrs: ['10.96.0.0/12'] } });
    expect(replaced.body).toMatchObject({ spec: { cidrs: ['10.96.0.0/12'] } });
    expect((await call('DELETE', `${path}/extra`)).code).toBe(200);
    expect((await call('DELETE', `${path}/kubernetes`)).code).toBe(200);
    expect((await call('GET', path)).body.items).toEqual([]);
  });
});

describe('objects over HTTP', () => {
  it('creates, reads, replaces and deletes, answering failures with Status objects', async () => {
    const created = await call('POST', '/api/v1/namespaces/web/services', { ...svc('a'), status: { loadBalancer: { ingress: [{ ip: '1.1.1.1' }] } } });
    expect(created.code).toBe(201);
    expect(created.body.status).toBeUndefined();
    const meta = created.body.metadata as { resourceVersion: string; uid: string };
    expect((await call('POST', '/api/v1/namespaces/web/services', svc('a'))).body).toMatchObject({ kind: 'Status', code: 409, reason: 'AlreadyExists' });
    expect((await call('POST', '/api/v1/namespaces/other/services', svc('b'))).code).toBe(400);
    expect((await call('POST', '/api/v1/namespaces/web/services', { metadata: {} })).body).toMatchObject({ code: 422, reason: 'Invalid' });
    expect((await call('GET', '/api/v1/namespaces/web/services/nope')).body).toMatchObject({ kind: 'Status', code: 404, reason: 'NotFound', details: { name: 'nope', kind: 'services' } });
    expect((await call('GET', '/api/v1/namespaces/web/pods')).code).toBe(404);

    const stale = { ...svc('a'), metadata: { name: 'a', namespace: 'web', resourceVersion: '1' } };
    expect((await call('PUT', '/api/v1/namespaces/web/services/a', stale)).code).toBe(409);
    const replaced = await call('PUT', '/api/v1/namespaces/web/services/a', { ...stale, spec: { clusterIP: '10.96.1.2' }, metadata: { ...stale.metadata, resourceVersion: meta.resourceVersion } });
    expect(replaced.code).toBe(200);
    expect(replaced.body.metadata).toMatchObject({ uid: meta.uid });

    const status = await call('PUT', '/api/v1/namespaces/web/services/a/status', { ...svc('a'), spec: { clusterIP: 'ignored' }, status: { loadBalancer: { ingress: [{ ip: '2.2.2.2' }] } } });
    expect(status.body).toMatchObject({ spec: { clusterIP: '10.96.1.2' }, status: { loadBalancer: { ingress: [{ ip: '2.2.2.2' }] } } });

    const deleted = await call('DELETE', '/api/v1/namespaces/web/services/a');
    expect(deleted.code).toBe(200);
    expect(Number((deleted.body.metadata as { resourceVersion: string }).resourceVersion)).toBeGreaterThan(Number(meta.resourceVersion));
    expect((await call('DELETE', '/api/v1/namespaces/web/services/a')).code).toBe(404);
  });

  it('patches with JSON merge patch and JSON patch, on the object and on /status', async () => {
    s.create(svc('p', { keep: 'me', drop: 'me' }));
    const merged = await call('PATCH', '/api/v1/namespaces/web/services/p', { metadata: { labels: { drop: null, add: 'x' } } }, 'application/merge-patch+json');
    expect(merged.body.metadata).toMatchObject({ labels: { keep: 'me', add: 'x' } });
    const patched = await call('PATCH', '/api/v1/namespaces/web/services/p', [
      { op: 'replace', path: '/spec/clusterIP', value: '10.96.1.9' },
      { op: 'add', path: '/spec/ports', value: [{ port: 53 }] },
      { op: 'add', path: '/spec/ports/-', value: { port: 54 } },
    ], 'application/json-patch+json');
    expect(patched.body.spec).toEqual({ clusterIP: '10.96.1.9', ports: [{ port: 53 }, { port: 54 }] });
    const status = await call('PATCH', '/api/v1/namespaces/web/services/p/status', { status: { loadBalancer: { ingress: [{ ip: '3.3.3.3' }] } }, spec: { clusterIP: 'no' } }, 'application/merge-patch+json');
    expect(status.body).toMatchObject({ spec: { clusterIP: '10.96.1.9' }, status: { loadBalancer: { ingress: [{ ip: '3.3.3.3' }] } } });
    const strategic = await call('PATCH', '/api/v1/namespaces/web/services/p', { spec: { ports: [{ port: 54, protocol: 'UDP' }, { port: 55 }] } }, 'application/strategic-merge-patch+json');
    expect(strategic.body.spec).toEqual({ clusterIP: '10.96.1.9', ports: [{ port: 53 }, { port: 54, protocol: 'UDP' }, { port: 55 }] });
    expect((await call('PATCH', '/api/v1/namespaces/web/services/p', {}, 'application/apply-patch+yaml')).code).toBe(415);
    expect((await call('PATCH', '/api/v1/namespaces/web/services/p', [{ op: 'test', path: '/spec/clusterIP', value: 'x' }], 'application/json-patch+json')).code).toBe(422);
    expect((await call('PUT', '/apis/discovery.k8s.io/v1/namespaces/web/endpointslices/x/status', {})).code).toBe(404);
  });

  it('serves OpenAPI v3: a root naming each group-version, whose PATCH operations carry the kind and fieldValidation', async () => {
    const root = await call('GET', '/openapi/v3');
    const paths = root.body.paths as Record<string, { serverRelativeURL: string }>;
    expect(Object.keys(paths).sort()).toEqual(['api/v1', 'apis/apps/v1', 'apis/discovery.k8s.io/v1', 'apis/networking.k8s.io/v1', 'apis/rbac.authorization.k8s.io/v1']);
    const doc = await call('GET', paths['apis/discovery.k8s.io/v1']?.serverRelativeURL ?? '');
    const item = (doc.body.paths as Record<string, Record<string, { 'x-kubernetes-group-version-kind': unknown; parameters?: { name: string; in: string }[] }>>)['/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices/{name}'];
    expect(item?.patch?.['x-kubernetes-group-version-kind']).toEqual({ group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice' });
    expect(item?.patch?.parameters).toContainEqual(expect.objectContaining({ name: 'fieldValidation', in: 'query' }));
    expect((await call('GET', '/openapi/v3/apis/batch/v1')).code).toBe(404);
  });

  it('serves an empty OpenAPI v2 document, in gnostic protobuf when asked (older kubectl validates with it)', async () => {
    const pb = await fetch(`${s.url}/openapi/v2`, { headers: { Accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' } });
    expect(pb.headers.get('content-type')).toBe('application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
    const bytes = Buffer.from(await pb.arrayBuffer());
    // swagger (1) = "2.0", then info (2), then an empty paths (8).
    expect([...bytes.subarray(0, 5)]).toEqual([0x0a, 3, 0x32, 0x2e, 0x30]);
    expect(bytes[5]).toBe(0x12);
    expect([...bytes.subarray(-2)]).toEqual([0x42, 0]);
    expect((await call('GET', '/openapi/v2')).body).toMatchObject({ swagger: '2.0', paths: {} });
  });

  it('answers kubectl\'s Table requests (list, get, watch) with kube-apiserver\'s columns', async () => {
    const accept = { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json' };
    s.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'tbl', namespace: 'table' }, spec: { type: 'NodePort', clusterIP: '10.96.7.7', ports: [{ port: 80, nodePort: 30007, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }] } });
    const listed = (await (await fetch(`${s.url}/api/v1/namespaces/table/services`, { headers: accept })).json()) as { kind: string; columnDefinitions: { name: string }[]; rows: { cells: unknown[]; object: { kind: string; metadata: { name: string } } }[] };
    expect(listed.kind).toBe('Table');
    expect(listed.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Type', 'Cluster-IP', 'External-IP', 'Port(s)', 'Age']);
    expect(listed.rows[0]?.cells.slice(0, 5)).toEqual(['tbl', 'NodePort', '10.96.7.7', '<none>', '80:30007/TCP,53/UDP']);
    expect(listed.rows[0]?.object).toMatchObject({ kind: 'PartialObjectMetadata', metadata: { name: 'tbl' } });
    const one = (await (await fetch(`${s.url}/api/v1/namespaces/table/services/tbl?includeObject=Object`, { headers: accept })).json()) as { rows: { object: { spec: unknown } }[] };
    expect(one.rows[0]?.object.spec).toMatchObject({ clusterIP: '10.96.7.7' });
    expect(((await call('GET', '/api/v1/namespaces/table/services/tbl')).body as { kind: string }).kind).toBe('Service');
    const events = await watch('/api/v1/namespaces/table/services?watch=true', 2, () => s.remove('Service', 'table', 'tbl'), accept);
    expect(events.map((e) => `${e.type} ${String(e.object.kind)}`)).toEqual(['ADDED Table', 'DELETED Table']);
  });

  it('lists with selectors and rejects bad ones with 400', async () => {
    s.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', labels: { zone: 'z1' } } });
    s.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-b', labels: { zone: 'z2' } } });
    const byField = await call('GET', '/api/v1/nodes?fieldSelector=metadata.name%3Dnode-b');
    expect(byField.body).toMatchObject({ kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: s.resourceVersion } });
    expect((byField.body.items as { metadata: { name: string } }[]).map((i) => i.metadata.name)).toEqual(['node-b']);
    const byLabel = await call('GET', '/api/v1/nodes?labelSelector=zone%20in%20(z1)');
    expect((byLabel.body.items as { metadata: { name: string } }[]).map((i) => i.metadata.name)).toEqual(['node-a']);
    expect((await call('GET', '/api/v1/nodes?labelSelector=zone%20in%20(')).body).toMatchObject({ code: 400, reason: 'BadRequest' });
    expect((await call('GET', '/api/v1/nodes?fieldSelector=spec.unschedulable%3Dtrue')).code).toBe(400);
    expect((await call('GET', `/api/v1/nodes?resourceVersion=${Number(s.resourceVersion) + 10}`)).code).toBe(504);
  });
});

describe('watch streams', { timeout: 15_000 }, () => {
  it('replays from a version and sends selector moves as ADDED and DELETED', async () => {
    s.create(svc('w1', { app: 'x' }));
    const from = s.resourceVersion;
    const events = await watch(`/api/v1/namespaces/web/services?watch=true&resourceVersion=${from}&labelSelector=app%3Dx`, 4, () => {
      s.apply(svc('w1', { app: 'y' }));
      s.apply(svc('w1', { app: 'x' }));
      s.apply({ ...svc('w1', { app: 'x' }), spec: { clusterIP: '10.96.1.3' } });
      s.create(svc('w2', { app: 'z' }));
      s.create({ ...svc('w3', { app: 'x' }), metadata: { name: 'w3', namespace: 'elsewhere', labels: { app: 'x' } } });
      s.remove('Service', 'web', 'w1');
    });
    expect(events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['DELETED w1', 'ADDED w1', 'MODIFIED w1', 'DELETED w1']);
    const rvs = events.map((e) => Number(e.object.metadata?.resourceVersion));
    expect(rvs).toEqual([...rvs].sort((a, b) => a - b));
    expect(rvs[0]).toBe(Number(from) + 1);
  });

  it('starts from the current state without a version, on /watch/ paths and for one object', async () => {
    s.create(svc('x1'));
    s.create(svc('x2'));
    const current = s.list('Service', { namespace: 'web' }).map((o) => o.metadata.name);
    const all = await watch('/api/v1/watch/namespaces/web/services', current.length);
    expect(all.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(current.map((n) => `ADDED ${n}`));
    const one = await watch(`/api/v1/namespaces/web/services/x2?watch=1&resourceVersion=${s.resourceVersion}`, 1, () => {
      s.apply({ ...svc('x1'), spec: {} });
      s.apply({ ...svc('x2'), spec: {} });
    });
    expect(one.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['MODIFIED x2']);
  });

  it('answers a watch from a compacted version with an ERROR event carrying a 410 Status', async () => {
    const old = s.resourceVersion;
    s.compact();
    const events = await watch(`/api/v1/services?watch=true&resourceVersion=${old}`, 2);
    expect(events).toEqual([{ type: 'ERROR', object: expect.objectContaining({ kind: 'Status', code: 410, reason: 'Expired' }) }]);
  });

  it('ends the stream cleanly after timeoutSeconds', async () => {
    const started = Date.now();
    const events = await watch(`/api/v1/nodes?watch=true&resourceVersion=${s.resourceVersion}&timeoutSeconds=1`, 1);
    expect(events).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(s.watchCount).toBe(0);
  });
});
