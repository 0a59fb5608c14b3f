// `nft -j list table` output -> the chain names, set names and elements a full sync
// compares against, with elements written the way render.ts writes them.
import * as z from 'zod';
import { KprError } from '../../lib/errors.ts';
import type { KernelTable } from './diff.ts';

const setBody = z.object({
  name: z.string(),
  flags: z.array(z.string()).optional(),
  elem: z.array(z.unknown()).optional(),
});

const listing = z.object({
  nftables: z.array(z.looseObject({
    chain: z.looseObject({ name: z.string() }).optional(),
    set: setBody.loose().optional(),
    map: setBody.loose().optional(),
  })),
});

/** One element value (key or data) of nft's JSON as nft's text syntax. */
export function valueText(v: unknown): string {
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  if (Array.isArray(v)) return v.map(valueText).join(' , ');
  if (v && typeof v === 'object') {
    const [kind, body] = Object.entries(v)[0] ?? ['', undefined];
    const b = body as Record<string, unknown> | unknown[] | null;
    switch (kind) {
      case 'concat':
        return (b as unknown[]).map(valueText).join(' . ');
      case 'prefix':
        return `${valueText((b as Record<string, unknown>).addr)}/${valueText((b as Record<string, unknown>).len)}`;
      case 'range':
        return (b as unknown[]).map(valueText).join('-');
      case 'elem':
        return valueText((b as Record<string, unknown>).val);
      case 'goto':
      case 'jump':
        return `${kind} ${valueText((b as Record<string, unknown>).target)}`;
      default:
        if (b === null) return kind; // verdicts without argument: drop, accept, return
    }
  }
  throw new KprError('NFT_LIST', `unexpected element value ${JSON.stringify(v)}`);
}

export function parseKernelTable(json: string, table: string): KernelTable {
  const parsed = listing.safeParse(JSON.parse(json));
  if (!parsed.success) throw new KprError('NFT_LIST', 'unexpected nft JSON listing', { object: `table ${table}`, cause: parsed.error });
  const chains = new Set<string>();
  const sets = new Map<string, 'set' | 'map'>();
  const elements = new Map<string, Map<string, string>>();
  for (const item of parsed.data.nftables) {
    if (item.chain) chains.add(item.chain.name);
    const kind = item.set ? 'set' : item.map ? 'map' : undefined;
    const s = item.set ?? item.map;
    if (!kind || !s) continue;
    sets.set(s.name, kind);
    if (s.flags?.includes('dynamic')) continue;
    const m = new Map<string, string>();
    for (const e of s.elem ?? []) {
      if (kind === 'map' && Array.isArray(e)) m.set(valueText(e[0]), valueText(e[1]));
      else m.set(valueText(e), '');
    }
    elements.set(s.name, m);
  }
  return { chains, sets, elements };
}
