// kpr-cni's `nodeFile` key: the node file `kpr network` writes gives the MTU (when the
// conflist has no `mtu`) and kpr-ipam's pod CIDRs (when its ipam names none).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNetConf } from './config.ts';
import { nodeFileMtu } from './mtu.ts';

const dir = mkdtempSync(join(tmpdir(), 'kpr-cni-nodefile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('nodeFile', () => {
  it('gives in-process kpr-ipam the node file as its podCIDRFile when the ipam names no addresses', () => {
    const conf = parseNetConf({ type: 'kpr-cni', nodeFile: '/run/kpr/node.json', ipam: { type: 'kpr-ipam' } }, 'n', '1.1.0');
    expect(conf.nodeFile).toBe('/run/kpr/node.json');
    expect(conf.ipam).toEqual({ type: 'kpr-ipam', podCIDRFile: '/run/kpr/node.json' });
  });

  it('leaves an ipam that names its addresses, and any other IPAM plugin, as they are', () => {
    const ranges = [[{ subnet: '10.244.1.0/24' }]];
    expect(parseNetConf({ type: 'kpr-cni', nodeFile: '/f', ipam: { type: 'kpr-ipam', ranges } }, 'n', '1.1.0').ipam).toEqual({ type: 'kpr-ipam', ranges });
    expect(parseNetConf({ type: 'kpr-cni', nodeFile: '/f', ipam: { type: 'kpr-ipam', podCIDRFile: '/g' } }, 'n', '1.1.0').ipam).toEqual({ type: 'kpr-ipam', podCIDRFile: '/g' });
    expect(parseNetConf({ type: 'kpr-cni', nodeFile: '/f', ipam: { type: 'host-local', subnet: '10.1.0.0/24' } }, 'n', '1.1.0').ipam).toEqual({ type: 'host-local', subnet: '10.1.0.0/24' });
  });

  it('refuses a nodeFile that is not a path, naming the key', () => {
    expect(() => parseNetConf({ type: 'kpr-cni', nodeFile: 7, ipam: { type: 'kpr-ipam' } }, 'n', '1.1.0')).toThrow(/key "nodeFile"/);
  });

  it('reads the MTU; a missing file is "try again later" (11), a bad one names the file', () => {
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ podCIDRs: ['10.244.1.0/24'], mtu: 1450 }));
    expect(nodeFileMtu(good)).toBe(1450);
    expect(() => nodeFileMtu(join(dir, 'missing.json'))).toThrow(expect.objectContaining({ code: 11 }));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ podCIDRs: [], mtu: '1450' }));
    expect(() => nodeFileMtu(bad)).toThrow(expect.objectContaining({ code: 7, message: expect.stringContaining(bad) }));
  });
});
