import { describe, expect, it } from 'vitest';
import { parseProxyArgs } from './config.ts';
import { healthCheckAddresses, rulesConfigFor } from './rules-config.ts';

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

describe('healthCheckAddresses: health-check node ports listen on nodePortAddresses only', () => {
  const local = ['127.0.0.1', '192.0.2.1', '10.0.0.5', 'fd00::1'];
  const args = (...a: string[]) => parseProxyArgs(['--proxy-mode', 'iptables', ...a], () => '', { hostname: 'node-1' });

  it('takes the node addresses inside the CIDRs, in both families', () => {
    expect(healthCheckAddresses(args('--nodeport-addresses', '192.0.2.0/24,fd00::/64'), undefined, local)).toEqual(['192.0.2.1', 'fd00::1']);
  });

  it('listens everywhere when nodePortAddresses takes every address (iptables default)', () => {
    expect(healthCheckAddresses(args(), undefined, local)).toBeUndefined();
  });

  it('takes the primary address when asked', () => {
    expect(healthCheckAddresses(args('--nodeport-addresses', 'primary', '--bind-address', '10.0.0.5'), undefined, local)).toEqual(['10.0.0.5']);
  });
});
