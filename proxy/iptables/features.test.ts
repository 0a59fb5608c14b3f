import { describe, expect, it } from 'vitest';
import { detectFeatures, parseNfacctList, supportsRandomFully, type FeatureProbes } from './features.ts';

describe('iptables features', () => {
  it('has MASQUERADE --random-fully from iptables 1.6.2 on, as upstream checks', () => {
    expect(supportsRandomFully('iptables v1.8.9 (nf_tables)\n')).toBe(true);
    expect(supportsRandomFully('ip6tables v1.6.2\n')).toBe(true);
    expect(supportsRandomFully('iptables v1.6.1\n')).toBe(false);
    expect(supportsRandomFully('iptables v1.4.21\n')).toBe(false);
    expect(supportsRandomFully('iptables v2.0.0\n')).toBe(true);
    expect(supportsRandomFully('garbage')).toBe(false);
  });

  it('reads packet counts from nfacct list', () => {
    const text = '{ pkts = 00000000000000000012, bytes = 00000000000000000720 } = localhost_nps_accepted_pkts;\n'
      + '{ pkts = 00000000000000000000, bytes = 00000000000000000000 } = ct_state_invalid_dropped_pkts;\n';
    expect(parseNfacctList(text)).toEqual(new Map([['localhost_nps_accepted_pkts', 12], ['ct_state_invalid_dropped_pkts', 0]]));
    expect(parseNfacctList('')).toEqual(new Map());
  });

  /** A fake node: `objects` null means nfacct is unavailable; names in `refuse` cannot be added. */
  function node(version: string, objects: Set<string> | null, refuse: string[] = []): FeatureProbes & { added: string[] } {
    const added: string[] = [];
    return {
      added,
      version: async () => version,
      async nfacctList() {
        if (!objects) throw new Error('spawn nfacct ENOENT');
        return [...objects].map((n) => `{ pkts = 00000000000000000000, bytes = 00000000000000000000 } = ${n};`).join('\n');
      },
      async nfacctAdd(name) {
        if (!objects || refuse.includes(name)) throw new Error('nfacct: error: Operation not permitted');
        objects.add(name);
        added.push(name);
      },
    };
  }

  it('creates the missing nfacct objects and uses those that exist', async () => {
    const n = node('iptables v1.8.9', new Set(['ct_state_invalid_dropped_pkts']));
    const f = await detectFeatures(n);
    expect(f.randomFully).toBe(true);
    expect([...f.nfacct].sort()).toEqual(['ct_state_invalid_dropped_pkts', 'localhost_nps_accepted_pkts']);
    expect(n.added).toEqual(['localhost_nps_accepted_pkts']);
  });

  it('goes without nfacct where it is unavailable, and without a counter it cannot create', async () => {
    expect(await detectFeatures(node('iptables v1.6.0', null))).toEqual({ randomFully: false, nfacct: new Set() });
    const partial = await detectFeatures(node('iptables v1.8.9', new Set(), ['localhost_nps_accepted_pkts']));
    expect([...partial.nfacct]).toEqual(['ct_state_invalid_dropped_pkts']);
  });
});
