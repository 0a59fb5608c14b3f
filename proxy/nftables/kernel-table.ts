// `nft -t -j list chains|sets|maps <family>` output -> the chain and set names of our
// table a full sync compares against (`list table`, even terse, makes nft fetch every
// element: 2 s at 10,000 Services; these three do not); and `valueText`, nft JSON
// element values as nft's text syntax.
import * as z from 'zod';
import { KprError } from '../../lib/errors.ts';
import type { KernelTable } from './diff.ts';

const named = z.looseObject({ name: z.string(), table: z.string() });

const listing = z.object({
  nftables: z.array(z.looseObject({
    chain: named.optional(),
    set: named.optional(),
    map: named.optional(),
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

/** Merges the listings (any of chains, sets, maps) into the names that belong to `table`. */
export function parseKernelTable(listings: readonly string[], table: string): KernelTable {
  const chains = new Set<string>();
  const sets = new Map<string, 'set' | 'map'>();
  for (const json of listings) {
    const parsed = listing.safeParse(JSON.parse(json));
    if (!parsed.success) throw new KprError('NFT_LIST', 'unexpected nft JSON listing', { object: `table ${table}`, cause: parsed.error });
    for (const item of parsed.data.nftables) {
      if (item.chain?.table === table) chains.add(item.chain.name);
      if (item.set?.table === table) sets.set(item.set.name, 'set');
      if (item.map?.table === table) sets.set(item.map.name, 'map');
    }
  }
  return { chains, sets };
}
