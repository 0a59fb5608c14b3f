import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNftablesView } from './nftables.ts';
import { checkFlowCluster } from '../../test/support/inspect.ts';

const json = (f: 4 | 6) => readFileSync(join(import.meta.dirname, `testdata/flows-ipv${f}.nft.json`), 'utf8');

describe('nftables inspection of the flow-table cluster (nft -j list table)', () => {
  for (const family of [4, 6] as const) {
    it(`shows every Service with its backends (IPv${family})`, () => {
      const view = parseNftablesView(json(family), family);
      expect(view.mode).toBe('nftables');
      checkFlowCluster(view);
    });
  }

  it('says which addresses accept NodePorts', () => {
    expect(parseNftablesView(json(4), 4).nodePortAddresses).toBe('local addresses except 127.0.0.0/8');
    expect(parseNftablesView(json(6), 6).nodePortAddresses).toBe('local addresses except ::1');
  });

  it('names what it cannot read', () => {
    expect(() => parseNftablesView('{"nftables": 3}', 4)).toThrow(/table ip kpr: unexpected nft -j output/);
  });
});
