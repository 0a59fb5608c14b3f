// JSON value helpers: structural equality and the two patch formats the server
// accepts, JSON merge patch (RFC 7386) and JSON patch (RFC 6902).
import { ApiError } from './status.ts';

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Structural equality of JSON values; key order does not matter. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/** RFC 7386: objects merge recursively, null deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

interface Operation {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new ApiError('BadRequest', `invalid JSON pointer "${path}"`);
  return path.slice(1).split('/').map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** The container holding the last token of `tokens`, and that token. */
function parentOf(doc: unknown, tokens: string[], path: string): { parent: unknown; last: string } {
  let node = doc;
  for (const t of tokens.slice(0, -1)) {
    node = Array.isArray(node) ? node[Number(t)] : isObject(node) ? node[t] : undefined;
    if (node === undefined) throw new ApiError('Invalid', `JSON patch: path "${path}" does not exist`);
  }
  return { parent: node, last: tokens[tokens.length - 1] ?? '' };
}

function getAt(doc: unknown, path: string): unknown {
  let node = doc;
  for (const t of pointer(path)) {
    node = Array.isArray(node) ? node[Number(t)] : isObject(node) ? node[t] : undefined;
    if (node === undefined) throw new ApiError('Invalid', `JSON patch: path "${path}" does not exist`);
  }
  return node;
}

function arrayIndex(arr: unknown[], token: string, path: string, forInsert: boolean): number {
  const idx = token === '-' && forInsert ? arr.length : Number(token);
  if (!Number.isInteger(idx) || idx < 0 || idx > arr.length - (forInsert ? 0 : 1)) {
    throw new ApiError('Invalid', `JSON patch: index out of range at "${path}"`);
  }
  return idx;
}

function removeAt(doc: unknown, path: string): unknown {
  const { parent, last } = parentOf(doc, pointer(path), path);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, last, path, false), 1)[0];
  if (isObject(parent) && Object.hasOwn(parent, last)) {
    const old = parent[last];
    delete parent[last];
    return old;
  }
  throw new ApiError('Invalid', `JSON patch: path "${path}" does not exist`);
}

function addAt(doc: unknown, path: string, value: unknown, replace: boolean): unknown {
  const tokens = pointer(path);
  if (tokens.length === 0) return value;
  const { parent, last } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) {
    const idx = arrayIndex(parent, last, path, !replace);
    parent.splice(idx, replace ? 1 : 0, value);
  } else if (isObject(parent)) {
    if (replace && !Object.hasOwn(parent, last)) throw new ApiError('Invalid', `JSON patch: path "${path}" does not exist`);
    parent[last] = value;
  } else {
    throw new ApiError('Invalid', `JSON patch: path "${path}" does not exist`);
  }
  return doc;
}

/** RFC 6902 operations applied in order to a copy of `doc`. */
export function jsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new ApiError('BadRequest', 'JSON patch must be an array of operations');
  let result: unknown = structuredClone(doc);
  for (const raw of ops as unknown[]) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw new ApiError('BadRequest', `invalid JSON patch operation ${JSON.stringify(raw)}`);
    }
    const op = raw as unknown as Operation;
    switch (op.op) {
      case 'add': result = addAt(result, op.path, structuredClone(op.value), false); break;
      case 'replace': result = addAt(result, op.path, structuredClone(op.value), true); break;
      case 'remove': removeAt(result, op.path); break;
      case 'move': result = addAt(result, op.path, removeAt(result, op.from ?? ''), false); break;
      case 'copy': result = addAt(result, op.path, structuredClone(getAt(result, op.from ?? '')), false); break;
      case 'test':
        if (!jsonEqual(getAt(result, op.path), op.value)) throw new ApiError('Invalid', `JSON patch: test failed at "${op.path}"`);
        break;
      default: throw new ApiError('BadRequest', `unknown JSON patch operation "${op.op}"`);
    }
  }
  return result;
}
