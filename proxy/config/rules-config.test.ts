import { describe, expect, it } from 'vitest';
import { parseProxyArgs } from './config.ts';
import { rulesConfigFor } from './rules-config.ts';

const cfg = parseProxyArgs(['--proxy-mode', 'nftables'], () => '', { hostname: 'node-1' });

describe('rulesConfigFor: service CIDRs', () => {
  const all = ['fd00:96::/112', '10.96.0.0/16', '10.97.0.0/16', '10.96.0.0/16'];

  it('narrows the union of ServiceCIDR objects to the family, sorted and without duplicates', () => {
    expect(rulesConfigFor(cfg, 4, undefined, [], all).serviceCIDRs).toEqual(['10.96.0.0/16', '10.97.0.0/16']);
    expect(rulesConfigFor(cfg, 6, undefined, [], all).serviceCIDRs).toEqual(['fd00:96::/112']);
  });

  it('gives equal configs for the same CIDRs in any order (no needless re-render), none without objects', () => {
    expect(rulesConfigFor(cfg, 4, undefined, [], [...all].reverse())).toEqual(rulesConfigFor(cfg, 4, undefined, [], all));
    expect(rulesConfigFor(cfg, 4, undefined, []).serviceCIDRs).toEqual([]);
  });
});
