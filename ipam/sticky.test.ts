import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allocate, gc, release, status, type IpamOptions } from './index.ts';
import { kprError, tempStore, type TempStore } from '../test/support/ipam-store.ts';

let t: TempStore;
let clock: number;
const opts: IpamOptions = { now: () => clock };
const HOUR = 3_600_000;
beforeEach(() => {
  t = tempStore();
  clock = Date.parse('2025-01-01T00:00:00Z');
});
afterEach(() => t.cleanup());

// Two usable addresses: .2 and .3.
const tight = { ranges: [[{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.2', rangeEnd: '10.0.0.3' }]], sticky: true, stickyTTL: '1h' };
const pod = (containerId: string, podName: string, extra: object = {}) => ({ containerId, ifName: 'eth0', podNamespace: 'ns', podName, ...extra });
const ips = async (p: Promise<{ ips: { address: string }[] }>) => (await p).ips.map((i) => i.address);

describe('sticky addresses', () => {
  it('keeps a released address for its pod for stickyTTL, then gives it back to the pool', async () => {
    const cfg = t.config(tight);
    expect(await ips(allocate(cfg, pod('c1', 'a'), opts))).toEqual(['10.0.0.2/24']);
    await release(cfg, { containerId: 'c1', ifName: 'eth0' }, opts);
    // Still taken for everyone reading host-local's files, and recorded for the pod.
    expect(t.files()['10.0.0.2']).toBe('kpr-sticky-recycled\r\nns/a');
    expect(JSON.parse(t.files()['kpr-sticky/10.0.0.2']!)).toEqual({
      podNamespace: 'ns', podName: 'a', state: 'recycled', containerId: 'c1', ifName: 'eth0', expiresAt: '2025-01-01T01:00:00.000Z',
    });

    expect(await ips(allocate(cfg, pod('c2', 'b'), opts))).toEqual(['10.0.0.3/24']);
    const err = await kprError(allocate(cfg, pod('c3', 'c'), opts));
    expect(err.code).toBe('IPAM_EXHAUSTED');
    await expect(status(cfg, opts)).rejects.toMatchObject({ code: 'IPAM_EXHAUSTED' });

    clock += HOUR; // expiry is inclusive
    await expect(status(cfg, opts)).resolves.toBeUndefined();
    expect(await ips(allocate(cfg, pod('c3', 'c'), opts))).toEqual(['10.0.0.2/24']);
    expect(JSON.parse(t.files()['kpr-sticky/10.0.0.2']!)).toMatchObject({ podName: 'c', state: 'allocated', containerId: 'c3' });
  });

  it('gives a pod that comes back (new container) its previous addresses, in every family', async () => {
    const cfg = t.config({ ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/64' }]], sticky: true });
    const first = await allocate(cfg, pod('c1', 'web-0'), opts);
    await allocate(cfg, pod('c2', 'web-1'), opts);
    await release(cfg, { containerId: 'c1', ifName: 'eth0' }, opts);
    clock += 23 * HOUR; // default TTL is 24h
    expect(await allocate(cfg, pod('c9', 'web-0'), opts)).toEqual(first);
    expect(t.files()['10.0.0.2']).toBe('c9\r\neth0');
    // Another interface of the same pod does not take it.
    await release(cfg, { containerId: 'c9', ifName: 'eth0' }, opts);
    expect(await ips(allocate(cfg, pod('c10', 'web-0', { ifName: 'net1' }), opts))).toEqual(['10.0.0.4/24', 'fd00::4/64']);
  });

  it('refuses a requested address kept for another pod, and grants it to its own pod', async () => {
    const cfg = t.config(tight);
    await allocate(cfg, pod('c1', 'a'), opts);
    await release(cfg, { containerId: 'c1', ifName: 'eth0' }, opts);
    const err = await kprError(allocate(cfg, pod('c2', 'b', { requestedIPs: ['10.0.0.2'] }), opts));
    expect(err.message).toBe('network net: requested address 10.0.0.2 is not available: kept for pod ns/a until 2025-01-01T01:00:00.000Z');
    expect(await ips(allocate(cfg, pod('c3', 'a', { requestedIPs: ['10.0.0.2'] }), opts))).toEqual(['10.0.0.2/24']);
  });

  it('gc recycles stale sticky attachments and reclaims expired ones', async () => {
    const cfg = t.config(tight);
    await allocate(cfg, pod('c1', 'a'), opts);
    await allocate(cfg, pod('c2', 'b'), opts);
    expect(await gc(cfg, [{ containerId: 'c2', ifName: 'eth0' }], opts)).toEqual({ released: ['10.0.0.2'], reclaimed: [], problems: [] });
    expect(t.files()['10.0.0.2']).toBe('kpr-sticky-recycled\r\nns/a');
    clock += 2 * HOUR;
    expect(await gc(cfg, [{ containerId: 'c2', ifName: 'eth0' }], opts)).toEqual({ released: [], reclaimed: ['10.0.0.2'], problems: [] });
    expect(Object.keys(t.files()).sort()).toEqual(['10.0.0.3', 'kpr-sticky/10.0.0.3', 'last_reserved_ip.0', 'lock']);
  });

  it('with sticky off, releases at once and writes no records', async () => {
    const cfg = t.config({ ...tight, sticky: false });
    await allocate(cfg, pod('c1', 'a'), opts);
    await release(cfg, { containerId: 'c1', ifName: 'eth0' }, opts);
    expect(Object.keys(t.files())).toEqual(['last_reserved_ip.0', 'lock']);
  });

  it('reclaims a recycled address whose record was deleted', async () => {
    const cfg = t.config(tight);
    await allocate(cfg, pod('c1', 'a'), opts);
    await release(cfg, { containerId: 'c1', ifName: 'eth0' }, opts);
    const recordFile = join(t.dataDir, 'net', 'kpr-sticky', '10.0.0.2');
    expect(readFileSync(recordFile, 'utf8')).toContain('recycled');
    rmSync(recordFile);
    expect((await gc(cfg, [], opts)).reclaimed).toEqual(['10.0.0.2']);
  });
});

describe('pod identity checks', () => {
  it('accepts podman-style container names and refuses names that would break the record line', async () => {
    const cfg = t.config(tight);
    expect(await ips(allocate(cfg, pod('c1', 'My_Container.1'), opts))).toEqual(['10.0.0.2/24']);
    expect((await kprError(allocate(cfg, pod('c2', 'a/b'), opts))).message).toBe('podName: invalid podName "a/b"');
    // Without stickiness the identity is not used, so not checked either.
    expect(await ips(allocate(t.config({ ...tight, sticky: false }), pod('c3', 'a b'), opts))).toEqual(['10.0.0.3/24']);
  });
});
