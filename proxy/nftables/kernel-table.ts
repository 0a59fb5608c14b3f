// The output of `list chains|sets|maps <family>` (one terse `nft -f -`; nft prints
// nothing for list commands of a batch in JSON mode) -> the chain and set names of our
// table a full sync compares against. `list table`, even terse, makes nft fetch every
// element (2 s at 10,000 Services); these do not. Also `valueText`: nft JSON element
// values as nft's text syntax.
import { KprError } from '../../lib/errors.ts';
import type { KernelTable } from './diff.ts';
import { ProxyError } from '../errors.ts';

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
  throw new ProxyError('NFT_LIST', `unexpected element value ${JSON.stringify(v)}`);
}

/** The commands whose output `parseKernelTable` reads. */
export const listCommands = (family: string) => ['chains', 'sets', 'maps'].map((kind) => `list ${kind} ${family}\n`).join('');

const TABLE_LINE = /^table \S+ (\S+) \{$/;
const OBJECT_LINE = /^\t(chain|set|map) (\S+) \{$/;

/** The names of `table`'s chains, sets and maps in the listing (other tables' are skipped). */
export function parseKernelTable(text: string, table: string): KernelTable {
  const chains = new Set<string>();
  const sets = new Map<string, 'set' | 'map'>();
  let current: string | undefined;
  for (const line of text.split('\n')) {
    const t = TABLE_LINE.exec(line);
    if (t) {
      current = t[1];
      continue;
    }
    if (line === '}') {
      current = undefined;
      continue;
    }
    const o = OBJECT_LINE.exec(line);
    if (!o) continue; // object bodies: types, flags, hooks
    if (current === undefined) throw new ProxyError('NFT_LIST', `unexpected nft listing line "${line}"`, { object: `table ${table}` });
    if (current !== table) continue;
    const [, kind, name] = o as unknown as [string, 'chain' | 'set' | 'map', string];
    if (kind === 'chain') chains.add(name);
    else sets.set(name, kind);
  }
  return { chains, sets };
}
