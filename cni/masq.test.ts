import { describe, expect, it } from 'vitest';
import { parseMasqElements, renderMasqAdd, renderMasqRemove, type MasqElement } from './masq.ts';
import { failedLines, splitJsonArrays } from './link.ts';
import { defaultRouteInterface4, defaultRouteInterface6 } from './mtu.ts';

const att = { network: 'net', containerId: 'c1', ifName: 'eth0' };

describe('masquerade rules', () => {
  it('declares the table idempotently and adds the pod with its attachment as comment', () => {
    const text = renderMasqAdd(att, ['10.244.1.5', 'fd00::5'], ['10.244.0.0/16', 'fd00::/48']);
    expect(text).toContain('flush chain inet kpr-cni-nat postrouting\n');
    expect(text).toContain('add rule inet kpr-cni-nat postrouting ip saddr @pods4 ip daddr != @cluster4 ip daddr != 224.0.0.0/4 masquerade\n');
    expect(text).toContain('add element inet kpr-cni-nat cluster6 { fd00::/48 }\n');
    expect(text).toContain('add element inet kpr-cni-nat pods4 { 10.244.1.5 comment "kpr-cni/net/c1/eth0" }\n');
    expect(text).toContain('add element inet kpr-cni-nat pods6 { fd00::5 comment "kpr-cni/net/c1/eth0" }\n');
  });
  it('removes elements, or the whole table with the last pod', () => {
    const a: MasqElement = { set: 'pods4', address: '10.244.1.5', attachment: att };
    const b: MasqElement = { set: 'pods6', address: 'fd00::6', attachment: { ...att, containerId: 'c2' } };
    expect(renderMasqRemove([a, b], [b])).toBe('delete element inet kpr-cni-nat pods6 { fd00::6 }\n');
    expect(renderMasqRemove([a, b], [a, b])).toBe('delete table inet kpr-cni-nat\n');
    expect(renderMasqRemove([a], [])).toBe('');
  });
  it('reads elements with comments from nft -j', () => {
    const json = JSON.stringify({ nftables: [{ metainfo: {} }, { set: { name: 'pods4', elem: [{ elem: { val: '10.244.1.5', comment: 'kpr-cni/net/c1/eth0' } }] } },
      { set: { name: 'cluster4', elem: [{ prefix: { addr: '10.244.0.0', len: 16 } }] } }] });
    expect(parseMasqElements(json)).toEqual([{ set: 'pods4', address: '10.244.1.5', attachment: att }]);
  });
});

describe('ip and /proc parsing', () => {
  it('maps ip -force -batch failures to line numbers with their messages', () => {
    expect([...failedLines('RTNETLINK answers: File exists\nCommand failed -:3\nCannot find device "x"\nCommand failed -:5\n')])
      .toEqual([[3, 'RTNETLINK answers: File exists'], [5, 'Cannot find device "x"']]);
  });
  it('splits concatenated JSON arrays of ip -j -batch', () => {
    expect(splitJsonArrays('[{"a":"]"}]\n[]\n[{"b":[1]}]')).toEqual([[{ a: ']' }], [], [{ b: [1] }]]);
  });
  it('finds the default-route interface with the lowest metric', () => {
    const v4 = 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n' +
      'eth1\t00000000\t0102A8C0\t0003\t0\t0\t200\t00000000\neth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\neth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n';
    expect(defaultRouteInterface4(v4)).toBe('eth0');
    const v6 = `${'0'.repeat(32)} 00 ${'0'.repeat(32)} 00 fe800000000000000000000000000001 00000400 00000000 00000000 00000003 up0\n` +
      `${'0'.repeat(32)} 00 ${'0'.repeat(32)} 00 ${'0'.repeat(32)} ffffffff 00000001 00000000 00200200 lo\n`;
    expect(defaultRouteInterface6(v6)).toBe('up0');
  });
});
