// `nft -j list table` as plain data for inspection: set and map elements as nft's
// text ("10.96.0.10 . tcp . 80" -> "goto internal-cluster"), set timeouts, and each
// chain's rules as their JSON expressions, with helpers to read those.
import * as z from 'zod';
import { KprError } from '../../lib/errors.ts';
import { valueText } from '../nftables/kernel-table.ts';
import { ProxyError } from '../errors.ts';

const setBody = z.looseObject({ name: z.string(), elem: z.array(z.unknown()).optional(), timeout: z.number().optional() });
const listing = z.object({
  nftables: z.array(z.looseObject({
    set: setBody.optional(),
    map: setBody.optional(),
    rule: z.looseObject({ chain: z.string(), expr: z.array(z.unknown()) }).optional(),
  })),
});

export interface NftListing {
  /** Set or map name -> element key -> value ("" for sets). */
  elements: Map<string, Map<string, string>>;
  /** Set or map name -> element key -> the element's comment, for elements that have one. */
  comments: Map<string, Map<string, string>>;
  /** Set name -> timeout in seconds, for sets that have one. */
  timeouts: Map<string, number>;
  /** Chain name -> its rules' expression lists. */
  rules: Map<string, unknown[][]>;
}

export function parseNftListing(json: string, object: string): NftListing {
  let parsed;
  try {
    parsed = listing.parse(JSON.parse(json));
  } catch (cause) {
    throw new ProxyError('INSPECT_NFT', 'unexpected nft -j output', { object, cause });
  }
  const out: NftListing = { elements: new Map(), comments: new Map(), timeouts: new Map(), rules: new Map() };
  for (const item of parsed.nftables) {
    const s = item.set ?? item.map;
    if (s) {
      const m = new Map<string, string>();
      const notes = new Map<string, string>();
      for (const e of s.elem ?? []) {
        const key = item.map && Array.isArray(e) ? e[0] : e;
        m.set(valueText(key), item.map && Array.isArray(e) ? valueText(e[1]) : '');
        const note = record(record(key).elem).comment;
        if (typeof note === 'string') notes.set(valueText(key), note);
      }
      out.elements.set(s.name, m);
      if (notes.size) out.comments.set(s.name, notes);
      if (s.timeout !== undefined) out.timeouts.set(s.name, s.timeout);
    }
    if (item.rule) {
      const list = out.rules.get(item.rule.chain) ?? [];
      list.push(item.rule.expr);
      out.rules.set(item.rule.chain, list);
    }
  }
  return out;
}

/** Every value stored under `key` anywhere inside `v` (depth first, in order). */
export function findAll(v: unknown, key: string): unknown[] {
  const out: unknown[] = [];
  const walk = (x: unknown) => {
    if (Array.isArray(x)) x.forEach(walk);
    else if (x && typeof x === 'object') {
      for (const [k, val] of Object.entries(x)) {
        if (k === key) out.push(val);
        walk(val);
      }
    }
  };
  walk(v);
  return out;
}

const record = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** The chains a rule jumps or goes to. */
export function targets(expr: unknown[]): string[] {
  return [...findAll(expr, 'goto'), ...findAll(expr, 'jump')].map((t) => String(record(t).target));
}

/** The left-hand side of a match, in the words `kpr inspect` prints (src, dst, src-type, in). */
function leftText(v: unknown): string {
  const r = record(v);
  const payload = record(r.payload);
  if (payload.field === 'saddr') return 'src';
  if (payload.field === 'daddr') return 'dst';
  if (r.fib) return `${(record(r.fib).flags as string[] | undefined)?.join(' . ') === 'daddr' ? 'dst' : 'src'}-type`;
  const meta = record(r.meta);
  if (meta.key === 'iifname') return 'in';
  if (meta.key) return String(meta.key);
  return JSON.stringify(v);
}

function rightText(v: unknown): string {
  const set = record(v).set;
  if (Array.isArray(set)) return `{ ${set.map(valueText).join(', ')} }`;
  return valueText(v);
}

/** The match conditions of a rule as text ("src != 10.244.0.0/16"); "" when it has none. */
export function conditions(expr: unknown[]): string {
  return expr
    .map((e) => record(record(e).match))
    .filter((m) => m.op !== undefined)
    .map((m) => `${leftText(m.left)} ${m.op === '==' ? '' : `${String(m.op)} `}${rightText(m.right)}`)
    .join(', ');
}
