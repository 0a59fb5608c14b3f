// Request routing: maps Kubernetes REST paths and verbs onto the store and watch hub.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { discoveryDocument } from './discovery.ts';
import { jsonPatch, mergePatch } from './json.ts';
import { openAPIDocument, openAPIV2 } from './openapi.ts';
import { strategicMergePatch } from './strategic-merge.ts';
import { table, wantsTable } from './table.ts';
import { resourceByPath, type ResourceType } from './resources.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { ApiError, toApiError } from './status.ts';
import type { Entry, KubeObject, Store, UpdateScope } from './store.ts';
import type { WatchHub } from './watch.ts';

export interface RouteContext {
  store: Store;
  hub: WatchHub;
  /** host:port clients reach this server at, for /api's serverAddressByClientCIDRs. */
  serverAddress: string;
}

/** A request on a resource path: /api/v1/..., /apis/GROUP/VERSION/..., with the optional legacy /watch/ segment. */
interface ResourcePath {
  resource: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
  watchPath: boolean;
}

const MAX_BODY = 64 * 1024 * 1024;

function parseResourcePath(path: string): ResourcePath | undefined {
  const all = path.split('/').filter((s) => s !== '').map(decodeURIComponent);
  let group: string;
  let version: string;
  let segs: string[];
  if (all[0] === 'api' && all.length > 2) {
    group = '';
    version = all[1] ?? '';
    segs = all.slice(2);
  } else if (all[0] === 'apis' && all.length > 3) {
    group = all[1] ?? '';
    version = all[2] ?? '';
    segs = all.slice(3);
  } else {
    return undefined;
  }
  const watchPath = segs[0] === 'watch';
  if (watchPath) segs = segs.slice(1);
  let namespace: string | undefined;
  // namespaces/NS/PLURAL/... is a namespaced resource; namespaces/NAME[/status] is a Namespace itself.
  if (segs[0] === 'namespaces' && segs.length >= 3 && segs[2] !== 'status') {
    namespace = segs[1];
    segs = segs.slice(2);
  }
  if (segs.length === 0 || segs.length > 3) return undefined;
  const resource = resourceByPath(group, version, segs[0] ?? '');
  if (!resource || (namespace !== undefined && !resource.namespaced)) return undefined;
  return { resource, namespace, name: segs[1], subresource: segs[2], watchPath };
}

function sendJson(res: ServerResponse, code: number, body: string): void {
  // Encoded once: a large list would otherwise be scanned for its length and then encoded again.
  const buf = Buffer.from(body, 'utf8');
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': buf.length });
  res.end(buf);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const api = toApiError(err);
  if (res.headersSent) {
    res.destroy(api);
    return;
  }
  sendJson(res, api.httpCode, JSON.stringify(api.toStatus()));
}

/** The request body as JSON; `ifEmpty` (when given) stands in for an empty body. */
async function readJson(req: IncomingMessage, ifEmpty?: unknown): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY) throw new ApiError('BadRequest', `request body larger than ${MAX_BODY} bytes`);
    chunks.push(buf);
  }
  if (size === 0 && ifEmpty !== undefined) return ifEmpty;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new ApiError('BadRequest', `request body is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new ApiError('BadRequest', `invalid ${name} "${v}"`);
  return Number(v);
}

function isTrue(v: string | null): boolean {
  return v === 'true' || v === '1';
}

/** A *List document; exported for the scale measurement. */
export function listBody(resource: ResourceType, result: ReturnType<Store['list']>): string {
  const meta: Record<string, string | number> = { resourceVersion: String(result.rv) };
  if (result.continue) meta.continue = result.continue;
  if (result.remainingItemCount !== undefined) meta.remainingItemCount = result.remainingItemCount;
  // Items are spliced in as their cached JSON: a 20,000-object list costs one join, not a re-serialisation.
  return `{"kind":"${resource.listKind}","apiVersion":"${resource.apiVersion}","metadata":${JSON.stringify(meta)},"items":[${result.items.map((e) => e.json).join(',')}]}`;
}

/** The object in a create or update body, checked against the path it was sent to. */
function bodyObject(body: unknown, rp: ResourcePath): KubeObject {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError('BadRequest', 'request body must be a JSON object');
  const obj = body as Record<string, unknown>;
  obj.apiVersion ??= rp.resource.apiVersion;
  obj.kind ??= rp.resource.kind;
  if (obj.apiVersion !== rp.resource.apiVersion || obj.kind !== rp.resource.kind) {
    throw new ApiError('BadRequest', `the body is a ${String(obj.apiVersion)} ${String(obj.kind)}, not a ${rp.resource.apiVersion} ${rp.resource.kind}`);
  }
  const meta = (typeof obj.metadata === 'object' && obj.metadata !== null ? obj.metadata : (obj.metadata = {})) as Record<string, unknown>;
  if (rp.namespace !== undefined) {
    meta.namespace ??= rp.namespace;
    if (meta.namespace !== rp.namespace) throw new ApiError('BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
  }
  if (rp.name !== undefined) {
    meta.name ??= rp.name;
    if (meta.name !== rp.name) throw new ApiError('BadRequest', 'the name of the object does not match the name on the URL');
  }
  return obj as KubeObject;
}

/** Reads a patch body and returns the function applying it, so that the patch meets the newest version. */
async function readPatch(req: IncomingMessage, kind: string): Promise<(current: KubeObject) => unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
  const appliers: Record<string, (current: KubeObject, patch: unknown) => unknown> = {
    'application/merge-patch+json': mergePatch,
    'application/json-patch+json': jsonPatch,
    'application/strategic-merge-patch+json': (current, patch) => strategicMergePatch(kind, current, patch),
  };
  const apply = appliers[type];
  if (!apply) throw new ApiError('UnsupportedMediaType', `unsupported patch type "${type}": use ${Object.keys(appliers).join(', ')}`);
  const patch = await readJson(req);
  return (current) => apply(current, patch);
}

async function handleResource(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, rp: ResourcePath, q: URLSearchParams): Promise<void> {
  const { store, hub } = ctx;
  const { resource, namespace, name, subresource } = rp;
  const method = req.method ?? 'GET';
  if (subresource !== undefined && (subresource !== 'status' || !resource.hasStatus)) {
    throw new ApiError('NotFound', `the server could not find the requested resource (${resource.plural}/${subresource})`);
  }
  const reply = (code: number, entry: Entry): void => sendJson(res, code, entry.json);

  if (method === 'GET' && (rp.watchPath || isTrue(q.get('watch')))) {
    const fieldText = [q.get('fieldSelector'), name !== undefined ? `metadata.name=${name}` : ''].filter((s) => s).join(',');
    hub.serve({
      resource, namespace,
      labelSelector: parseLabelSelector(q.get('labelSelector') ?? undefined),
      fieldSelector: parseFieldSelector(fieldText, resource.fields),
      resourceVersion: q.get('resourceVersion') ?? undefined,
      allowBookmarks: isTrue(q.get('allowWatchBookmarks')),
      timeoutSeconds: intParam(q, 'timeoutSeconds'),
      ...(wantsTable(req.headers.accept) && {
        render: (obj: KubeObject) => JSON.stringify(table(resource, [obj], { resourceVersion: String(obj.metadata.resourceVersion ?? '') }, q.get('includeObject'))),
      }),
    }, res);
    return;
  }
  if (name === undefined) {
    if (method === 'GET') {
      const rvParam = q.get('resourceVersion');
      if (rvParam && /^\d+$/.test(rvParam) && Number(rvParam) > store.resourceVersion) {
        throw new ApiError('Timeout', `Too large resource version: ${rvParam}, current: ${store.resourceVersion}`);
      }
      const result = store.list(resource, {
        namespace,
        labelSelector: parseLabelSelector(q.get('labelSelector') ?? undefined),
        fieldSelector: parseFieldSelector(q.get('fieldSelector') ?? undefined, resource.fields),
        limit: intParam(q, 'limit'),
        continue: q.get('continue') ?? undefined,
      });
      if (wantsTable(req.headers.accept)) {
        const meta = { resourceVersion: String(result.rv), ...(result.continue ? { continue: result.continue } : {}) };
        sendJson(res, 200, JSON.stringify(table(resource, result.items.map((e) => e.obj), meta, q.get('includeObject'))));
        return;
      }
      sendJson(res, 200, listBody(resource, result));
      return;
    }
    if (method === 'POST') {
      const obj = bodyObject(await readJson(req), rp);
      // Like the real server, a create starts with an empty status: status is written through /status.
      if (resource.hasStatus) delete obj.status;
      reply(201, store.create(obj));
      return;
    }
    throw new ApiError('MethodNotAllowed', `${method} is not supported on ${resource.plural}`);
  }
  const scope: UpdateScope = subresource === 'status' ? 'status' : 'main';
  switch (method) {
    case 'GET': {
      const entry = store.get(resource, namespace, name);
      if (wantsTable(req.headers.accept)) sendJson(res, 200, JSON.stringify(table(resource, [entry.obj], { resourceVersion: String(entry.obj.metadata.resourceVersion ?? '') }, q.get('includeObject'))));
      else reply(200, entry);
      return;
    }
    case 'PUT':
      reply(200, store.update(bodyObject(await readJson(req), rp), scope));
      return;
    case 'PATCH': {
      const apply = await readPatch(req, resource.kind);
      const current = structuredClone(store.get(resource, namespace, name).obj);
      reply(200, store.update(bodyObject(apply(current), rp), scope));
      return;
    }
    case 'DELETE': {
      const body = await readJson(req, {});
      const pre = (body as { preconditions?: { resourceVersion?: unknown; uid?: unknown } } | null)?.preconditions;
      reply(200, store.delete(resource, namespace, name, {
        resourceVersion: typeof pre?.resourceVersion === 'string' ? pre.resourceVersion : undefined,
        uid: typeof pre?.uid === 'string' ? pre.uid : undefined,
      }));
      return;
    }
    default:
      throw new ApiError('MethodNotAllowed', `${method} is not supported on ${resource.plural}/${name}`);
  }
}

const HEALTH = new Set(['/healthz', '/livez', '/readyz']);

/** Serves one request; failures become Status replies. */
export async function handle(ctx: RouteContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const url = new URL(req.url ?? '/', 'http://apiserver');
    if (HEALTH.has(url.pathname)) {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
      return;
    }
    const rp = parseResourcePath(url.pathname);
    if (rp) {
      await handleResource(ctx, req, res, rp, url.searchParams);
      return;
    }
    const path = url.pathname.replace(/\/+$/, '');
    if (req.method === 'GET' && path === '/openapi/v2') {
      const doc = openAPIV2(req.headers.accept ?? '');
      res.writeHead(200, { 'Content-Type': doc.type, 'Content-Length': doc.body.length });
      res.end(doc.body);
      return;
    }
    const doc = req.method === 'GET' ? (discoveryDocument(path, ctx.serverAddress) ?? openAPIDocument(path)) : undefined;
    if (!doc) throw new ApiError('NotFound', `the server could not find the requested resource (${req.method ?? 'GET'} ${url.pathname})`);
    sendJson(res, 200, JSON.stringify(doc));
  } catch (err) {
    sendError(res, err);
  }
}
