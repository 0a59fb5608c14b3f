// Strategic merge patch (application/strategic-merge-patch+json), what kubectl apply,
// edit and patch send for built-in types: a JSON merge patch whose lists merge by key
// where the type says so (patchStrategy "merge" with a patchMergeKey; primitive lists as
// sets), with the directives $patch (replace, delete, merge), $retainKeys,
// $setElementOrder/<list> and $deleteFromPrimitiveList/<list>. The list strategies are
// those of the served types' Go definitions; every other list is replaced whole.
import { jsonEqual } from './json.ts';
import { ApiError } from './status.ts';

type JsonObject = Record<string, unknown>;
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Lists that merge, by dotted path from the object's root: the merge key, or '' for a set of primitives. */
const COMMON: Record<string, string> = { 'metadata.ownerReferences': 'uid', 'metadata.finalizers': '' };
const MERGE_LISTS: Record<string, Record<string, string>> = {
  Service: { ...COMMON, 'spec.ports': 'port', 'status.conditions': 'type' },
  Node: { ...COMMON, 'spec.podCIDRs': '', 'status.addresses': 'type', 'status.conditions': 'type' },
  Namespace: { ...COMMON, 'status.conditions': 'type' },
  ServiceCIDR: { ...COMMON, 'status.conditions': 'type' },
  EndpointSlice: COMMON,
};

const ORDER = '$setElementOrder/';
const DELETE_PRIMITIVES = '$deleteFromPrimitiveList/';

/** Applies a strategic merge patch to an object of `kind`; the input is not changed. */
export function strategicMergePatch(kind: string, target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) throw new ApiError('BadRequest', 'a strategic merge patch must be a JSON object');
  return mergeObject(MERGE_LISTS[kind] ?? COMMON, '', isObject(target) ? target : {}, patch);
}

function mergeObject(lists: Record<string, string>, path: string, target: JsonObject, patch: JsonObject): JsonObject | undefined {
  const directive = patch.$patch;
  if (directive === 'delete') return undefined;
  const content = Object.fromEntries(Object.entries(patch).filter(([k]) => k !== '$patch'));
  if (directive === 'replace') return stripDirectives(content) as JsonObject;
  if (directive !== undefined && directive !== 'merge') throw new ApiError('BadRequest', `unknown $patch directive "${String(directive)}" at "${path || '.'}"`);
  let result: JsonObject = { ...target };
  const retain = content.$retainKeys;
  if (retain !== undefined) {
    if (!Array.isArray(retain)) throw new ApiError('BadRequest', `$retainKeys at "${path || '.'}" must be a list`);
    result = Object.fromEntries(Object.entries(result).filter(([k]) => retain.includes(k)));
  }
  for (const [key, value] of Object.entries(content)) {
    if (key === '$retainKeys' || key.startsWith(ORDER)) continue;
    if (key.startsWith(DELETE_PRIMITIVES)) {
      const field = key.slice(DELETE_PRIMITIVES.length);
      const gone = Array.isArray(value) ? value : [];
      const current = result[field];
      if (Array.isArray(current)) result[field] = current.filter((v) => !gone.some((g) => jsonEqual(g, v)));
      continue;
    }
    const at = path ? `${path}.${key}` : key;
    if (value === null) delete result[key];
    else if (Array.isArray(value)) result[key] = mergeList(lists, at, result[key], value);
    else if (isObject(value)) {
      const merged = mergeObject(lists, at, isObject(result[key]) ? result[key] : {}, value);
      if (merged === undefined) delete result[key];
      else result[key] = merged;
    } else result[key] = value;
  }
  for (const [key, order] of Object.entries(content)) {
    const field = key.startsWith(ORDER) ? key.slice(ORDER.length) : undefined;
    const list = field !== undefined ? result[field] : undefined;
    if (field !== undefined && Array.isArray(list) && Array.isArray(order)) result[field] = ordered(list, order, lists[path ? `${path}.${field}` : field] ?? '');
  }
  return result;
}

function mergeList(lists: Record<string, string>, path: string, target: unknown, patch: unknown[]): unknown[] {
  const key = lists[path];
  const current = Array.isArray(target) ? target : [];
  if (key === undefined || patch.some((e) => isObject(e) && e.$patch === 'replace')) {
    return stripDirectives(patch.filter((e) => !(isObject(e) && e.$patch === 'replace'))) as unknown[];
  }
  if (key === '') return [...current, ...patch.filter((v) => !current.some((c) => jsonEqual(c, v)))];
  const result = [...current];
  for (const element of patch) {
    if (!isObject(element) || !(key in element)) throw new ApiError('BadRequest', `an element of "${path}" has no merge key "${key}"`);
    const i = result.findIndex((c) => isObject(c) && jsonEqual(c[key], element[key]));
    const merged = mergeObject(lists, path, i >= 0 ? (result[i] as JsonObject) : {}, element);
    if (merged === undefined) {
      if (i >= 0) result.splice(i, 1);
    } else if (i >= 0) result[i] = merged;
    else result.push(merged);
  }
  return result;
}

/** `list` in the order `$setElementOrder` gives; elements it does not name keep their place after. */
function ordered(list: unknown[], order: unknown[], key: string): unknown[] {
  const id = (e: unknown) => (key !== '' && isObject(e) ? e[key] : e);
  const named = order.flatMap((o) => list.filter((e) => jsonEqual(id(e), key !== '' && isObject(o) ? o[key] : o)));
  return [...named, ...list.filter((e) => !named.includes(e))];
}

function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  return Object.fromEntries(Object.entries(v).filter(([k]) => !k.startsWith('$')).map(([k, x]) => [k, stripDirectives(x)]));
}
