// Interoperability with the stock host-local plugin (Debian's containernetworking-plugins)
// on one data directory, in both directions.
import { existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allocate, check, gc, release } from './index.ts';
import { HOST_LOCAL, hostLocal, tempStore, type TempStore } from '../test/support/ipam-store.ts';

const ranges = { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/120' }]] };
let t: TempStore;
beforeEach(() => { t = tempStore(); });
afterEach(() => t.cleanup());
const addresses = (r: { ips?: { address: string }[] }) => (r.ips ?? []).map((i) => i.address);

describe.skipIf(!existsSync(HOST_LOCAL))('host-local compatibility', () => {
  it('reads and continues what host-local wrote', async () => {
    expect(addresses(await hostLocal('ADD', t.dataDir, ranges, 'h1'))).toEqual(['10.0.0.2/24', 'fd00::2/120']);
    expect(addresses(await hostLocal('ADD', t.dataDir, ranges, 'h2'))).toEqual(['10.0.0.3/24', 'fd00::3/120']);
    const cfg = t.config(ranges);
    expect(addresses(await allocate(cfg, { containerId: 'k1', ifName: 'eth0' }))).toEqual(['10.0.0.4/24', 'fd00::4/120']);
    expect(addresses((await check(cfg, { containerId: 'h1', ifName: 'eth0' }))!)).toEqual(['10.0.0.2/24', 'fd00::2/120']);
    await release(cfg, { containerId: 'h1', ifName: 'eth0' });
    expect((await gc(cfg, [{ containerId: 'k1', ifName: 'eth0' }])).released).toEqual(['10.0.0.3', 'fd00::3']);
    expect(Object.keys(t.files()).filter((f) => !f.startsWith('last_') && f !== 'lock')).toEqual(['10.0.0.4', 'fd00::4']);
  });

  it('lets host-local see, check and release our allocations without reusing them', async () => {
    const cfg = t.config(ranges);
    await allocate(cfg, { containerId: 'k1', ifName: 'eth0' });
    await allocate(cfg, { containerId: 'k2', ifName: 'eth0' });
    expect(addresses(await hostLocal('ADD', t.dataDir, ranges, 'h1'))).toEqual(['10.0.0.4/24', 'fd00::4/120']);
    expect((await hostLocal('CHECK', t.dataDir, ranges, 'k2')).status).toBe(0);
    expect(await hostLocal('ADD', t.dataDir, ranges, 'k2')).toMatchObject({ status: 1, msg: expect.stringContaining('10.0.0.3 has been allocated to k2') });
    expect((await hostLocal('DEL', t.dataDir, ranges, 'k1')).status).toBe(0);
    expect(await check(cfg, { containerId: 'k1', ifName: 'eth0' })).toBeUndefined();
    // Requesting one of ours through host-local fails.
    expect((await hostLocal('ADD', t.dataDir, ranges, 'h9', { CNI_ARGS: 'IgnoreUnknown=1;IP=10.0.0.3' })).msg).toContain('10.0.0.3 is not available');
  });

  it('keeps recycled sticky addresses away from host-local', async () => {
    const tight = { ranges: [[{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.2', rangeEnd: '10.0.0.3' }]] };
    const cfg = t.config({ ...tight, sticky: true });
    await allocate(cfg, { containerId: 'k1', ifName: 'eth0', podNamespace: 'ns', podName: 'a' });
    await release(cfg, { containerId: 'k1', ifName: 'eth0' });
    expect(addresses(await hostLocal('ADD', t.dataDir, tight, 'h1'))).toEqual(['10.0.0.3/24']);
    expect(await hostLocal('ADD', t.dataDir, tight, 'h2')).toMatchObject({ status: 1, msg: expect.stringContaining('no IP addresses available') });
    // host-local's walk into kpr-sticky/ does not confuse its DEL either.
    expect((await hostLocal('DEL', t.dataDir, tight, 'h1')).status).toBe(0);
    expect(Object.keys(t.files()).filter((f) => f.startsWith('10.') || f.startsWith('kpr-sticky/'))).toEqual(['10.0.0.2', 'kpr-sticky/10.0.0.2']);
  });
});
