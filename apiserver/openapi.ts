// OpenAPI v3 documents (/openapi/v3 and one per group-version), as much as kubectl reads:
// each resource's paths and operations tagged with its group-version-kind, and the
// query parameters the server takes (kubectl sends `fieldValidation` only to a server
// whose PATCH operation lists it, and otherwise validates on the client against the
// OpenAPI v2 document). No schemas: kubectl then builds strategic merge patches from its
// compiled-in types.
import { createHash } from 'node:crypto';
import { RESOURCES, type ResourceType } from './resources.ts';

const query = (name: string) => ({ name, in: 'query', schema: { type: 'string' }, uniqueItems: true });
const WRITE_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation'].map(query);
const READ_PARAMS = ['labelSelector', 'fieldSelector', 'limit', 'continue', 'resourceVersion', 'watch', 'allowWatchBookmarks', 'timeoutSeconds'].map(query);
const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'];

/** The group-version path segment: `api/v1` or `apis/GROUP/VERSION`. */
const gvPath = (r: Pick<ResourceType, 'group' | 'version'>) => (r.group === '' ? `api/${r.version}` : `apis/${r.group}/${r.version}`);

function operations(r: ResourceType, verbs: Record<string, object>): Record<string, object> {
  const gvk = { group: r.group, version: r.version, kind: r.kind };
  return Object.fromEntries(Object.entries(verbs).map(([method, extra]) => [method, {
    operationId: `${method}${r.kind}`,
    'x-kubernetes-group-version-kind': gvk,
    responses: { 200: { description: 'OK' } },
    ...extra,
  }]));
}

function gvDocument(gv: string): object {
  const paths: Record<string, object> = {};
  for (const r of RESOURCES.filter((x) => gvPath(x) === gv)) {
    const base = `/${gv}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.plural}`;
    const writeBody = { requestBody: { content: { 'application/json': {} } }, parameters: WRITE_PARAMS };
    paths[base] = operations(r, { get: { 'x-kubernetes-action': 'list', parameters: READ_PARAMS }, post: { 'x-kubernetes-action': 'post', ...writeBody } });
    paths[`${base}/{name}`] = operations(r, {
      get: { 'x-kubernetes-action': 'get' },
      put: { 'x-kubernetes-action': 'put', ...writeBody },
      patch: { 'x-kubernetes-action': 'patch', requestBody: { content: Object.fromEntries(PATCH_TYPES.map((t) => [t, {}])) }, parameters: WRITE_PARAMS },
      delete: { 'x-kubernetes-action': 'delete', parameters: [query('dryRun')] },
    });
  }
  return { openapi: '3.0.0', info: V2_INFO, paths, components: { schemas: {} } };
}

/** The OpenAPI v3 document at `path`, or undefined if `path` is not one. */
export function openAPIDocument(path: string): object | undefined {
  const gvs = [...new Set(RESOURCES.map(gvPath))];
  if (path === '/openapi/v3') {
    // The hash lets clients cache a group-version's document; it changes with the document.
    const hash = (gv: string) => createHash('sha512').update(JSON.stringify(gvDocument(gv))).digest('hex').slice(0, 32).toUpperCase();
    return { paths: Object.fromEntries(gvs.map((gv) => [gv, { serverRelativeURL: `/openapi/v3/${gv}?hash=${hash(gv)}` }])) };
  }
  const gv = path.startsWith('/openapi/v3/') ? path.slice('/openapi/v3/'.length) : undefined;
  return gv !== undefined && gvs.includes(gv) ? gvDocument(gv) : undefined;
}

const V2_INFO = { title: 'Kubernetes (kpr embedded API server)', version: 'v1.34.0-kpr' };
/** What clients ask for; the reply names it without the `@` that Go's MIME parser refuses (as kube-apiserver does). */
export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';
const OPENAPI_V2_PROTOBUF_REPLY = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

/** A length-delimited protobuf field. */
function field(num: number, body: Buffer): Buffer {
  const len: number[] = [];
  for (let n = body.length; ; n >>>= 7) {
    if (n < 0x80) { len.push(n); break; }
    len.push((n & 0x7f) | 0x80);
  }
  return Buffer.concat([Buffer.from([(num << 3) | 2, ...len]), body]);
}

/**
 * The OpenAPI v2 document, empty of paths and definitions: older kubectl (Debian's 1.20)
 * validates against it before every write and skips kinds it has no definition of; it
 * asks for gnostic's protobuf encoding (openapi.v2.Document: swagger 1, info 2 with title
 * 1 and version 2, paths 8), JSON otherwise.
 */
export function openAPIV2(accept: string): { type: string; body: Buffer } {
  if (accept.includes(OPENAPI_V2_PROTOBUF)) {
    const info = Buffer.concat([field(1, Buffer.from(V2_INFO.title)), field(2, Buffer.from(V2_INFO.version))]);
    return { type: OPENAPI_V2_PROTOBUF_REPLY, body: Buffer.concat([field(1, Buffer.from('2.0')), field(2, info), field(8, Buffer.alloc(0))]) };
  }
  return { type: 'application/json', body: Buffer.from(JSON.stringify({ swagger: '2.0', info: V2_INFO, paths: {} })) };
}
