import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspect, type Listings } from './inspect.ts';

const data = (name: string) => readFileSync(join(import.meta.dirname, 'testdata', name), 'utf8');
const ipvsadm = '-A -t 10.96.0.1:443 -s rr\n-a -t 10.96.0.1:443 -r 192.0.2.1:6443 -m -w 1\n';

describe('mode detection', () => {
  it('finds the iptables mode by its KUBE-SERVICES chain', () => {
    const l: Listings = { families: { 4: { iptablesSave: data('flows-ipv4.iptables-save') }, 6: { iptablesSave: '' } }, problems: [] };
    const r = inspect(l, 'auto', [4, 6]);
    expect(r.found).toEqual([{ mode: 'iptables', where: 'KUBE-SERVICES in IPv4 nat' }]);
    expect(r.views.map((v) => `${v.mode}/${v.family}`)).toEqual(['iptables/4']);
  });

  it('shows every mode whose objects exist, per family asked for', () => {
    const l: Listings = {
      families: { 4: { iptablesSave: data('flows-ipv4.iptables-save'), nftJson: data('flows-ipv4.nft.json') }, 6: { nftJson: data('flows-ipv6.nft.json') } },
      ipvsadm,
      ipset: '',
      problems: [],
    };
    expect(inspect(l, 'auto', [4, 6]).views.map((v) => `${v.mode}/${v.family}`)).toEqual(['iptables/4', 'nftables/4', 'nftables/6', 'ipvs/4']);
    expect(inspect(l, 'auto', [6]).views.map((v) => `${v.mode}/${v.family}`)).toEqual(['nftables/6']);
    expect(inspect(l, 'ipvs', [4, 6]).found).toEqual([{ mode: 'ipvs', where: 'IPv4 virtual servers' }]);
  });

  it('names what it looked for when nothing is there', () => {
    const l: Listings = { families: { 4: { iptablesSave: '' } }, problems: ['ipvsadm -S -n: Can\'t initialize ipvs: Protocol not available'] };
    expect(() => inspect(l, 'auto', [4])).toThrow(
      'no kpr rules found in iptables, nftables or IPVS on this node for IPv4 (no KUBE-SERVICES chain in the nat table of iptables-save or ip6tables-save; '
      + 'no nftables table ip kpr or ip6 kpr; no IPVS virtual servers in ipvsadm -S -n; ipvsadm -S -n: Can\'t initialize ipvs: Protocol not available)',
    );
    expect(() => inspect({ families: { 4: { iptablesSave: data('flows-ipv4.iptables-save') } }, problems: [] }, 'nftables', [4, 6]))
      .toThrow('no kpr rules found in nftables mode on this node (no nftables table ip kpr or ip6 kpr)');
  });
});
