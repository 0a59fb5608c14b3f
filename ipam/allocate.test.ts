import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allocate, check, gc, release, status } from './index.ts';
import { kprError, tempStore, type TempStore } from '../test/support/ipam-store.ts';

let t: TempStore;
beforeEach(() => { t = tempStore(); });
afterEach(() => t.cleanup());

const v4 = { ranges: [[{ subnet: '10.0.0.0/29' }]] };
const add = (cfg: ReturnType<TempStore['config']>, containerId: string, extra: object = {}) =>
  allocate(cfg, { containerId, ifName: 'eth0', ...extra });
const addr = async (p: Promise<{ ips: { address: string }[] }>) => (await p).ips.map((i) => i.address);

describe('allocate', () => {
  it('hands out addresses round robin after the last reserved one, skipping the gateway, in host-local files', async () => {
    const cfg = t.config(v4);
    expect(await add(cfg, 'c1')).toEqual({ ips: [{ address: '10.0.0.2/29', gateway: '10.0.0.1' }], routes: [] });
    expect(await addr(add(cfg, 'c2'))).toEqual(['10.0.0.3/29']);
    await release(cfg, { containerId: 'c1', ifName: 'eth0' });
    // .2 is free again but round robin goes on from .3
    expect(await addr(add(cfg, 'c3'))).toEqual(['10.0.0.4/29']);
    expect(t.files()).toEqual({
      '10.0.0.3': 'c2\r\neth0',
      '10.0.0.4': 'c3\r\neth0',
      'last_reserved_ip.0': '10.0.0.4',
      lock: '',
    });
  });

  it('wraps around and reports exhaustion naming the range', async () => {
    const cfg = t.config(v4);
    for (const id of ['a', 'b', 'c', 'd', 'e']) await add(cfg, id);
    await release(cfg, { containerId: 'b', ifName: 'eth0' });
    expect(await addr(add(cfg, 'f'))).toEqual(['10.0.0.3/29']);
    const err = await kprError(add(cfg, 'g'));
    expect(err.code).toBe('IPAM_EXHAUSTED');
    expect(err.message).toBe('network net: no addresses left in range 10.0.0.1-10.0.0.6');
    await expect(status(cfg)).rejects.toMatchObject({ code: 'IPAM_EXHAUSTED' });
    await release(cfg, { containerId: 'f', ifName: 'eth0' });
    await expect(status(cfg)).resolves.toBeUndefined();
  });

  it('is idempotent for the same container and interface, distinct for another interface', async () => {
    const cfg = t.config(v4);
    const first = await add(cfg, 'c1');
    expect(await add(cfg, 'c1')).toEqual(first);
    expect(await addr(allocate(cfg, { containerId: 'c1', ifName: 'net1' }))).toEqual(['10.0.0.3/29']);
    expect(Object.keys(t.files()).filter((f) => f.startsWith('10.'))).toEqual(['10.0.0.2', '10.0.0.3']);
  });

  it('allocates one address per range set (dual-stack) with routes and resolv.conf DNS', async () => {
    const resolv = join(t.dataDir, 'resolv.conf');
    writeFileSync(resolv, 'nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local\noptions ndots:5\n');
    const cfg = t.config({
      ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
      resolvConf: resolv,
    });
    expect(await add(cfg, 'c1')).toEqual({
      ips: [
        { address: '10.244.1.2/24', gateway: '10.244.1.1' },
        { address: 'fd00:10:244:1::2/64', gateway: 'fd00:10:244:1::1' },
      ],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
      dns: { nameservers: ['10.96.0.10'], search: ['default.svc.cluster.local', 'svc.cluster.local'], options: ['ndots:5'] },
    });
    expect(t.files()).toMatchObject({ 'last_reserved_ip.0': '10.244.1.2', 'last_reserved_ip.1': 'fd00:10:244:1::2', 'fd00:10:244:1::2': 'c1\r\neth0' });
  });
});

describe('requested addresses', () => {
  const dual = { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/120' }]] };

  it('gives the requested address of each family, with or without a prefix length', async () => {
    const cfg = t.config(dual);
    expect(await addr(add(cfg, 'c1', { requestedIPs: ['fd00::50', '10.0.0.50/24'] }))).toEqual(['10.0.0.50/24', 'fd00::50/120']);
    expect(t.files()['last_reserved_ip.0']).toBe('10.0.0.50');
  });

  it('refuses taken, gateway, broadcast and foreign addresses and leaves nothing reserved', async () => {
    const cfg = t.config(dual);
    await add(cfg, 'c1', { requestedIPs: ['10.0.0.50'] });
    const before = t.files();
    const cases: [string, string][] = [
      ['10.0.0.50', 'requested address 10.0.0.50 is not available: held by c1/eth0'],
      ['10.0.0.1', 'requested address 10.0.0.1 is the gateway of 10.0.0.0/24'],
      ['10.0.0.255', 'requested address 10.0.0.255 is outside 10.0.0.1-10.0.0.254'],
      ['10.0.0.0', 'requested address 10.0.0.0 is outside 10.0.0.1-10.0.0.254'],
      ['192.0.2.5', 'requested 192.0.2.5 not in any range (or two in one range set)'],
    ];
    for (const [ip, message] of cases) {
      const err = await kprError(add(cfg, 'c2', { requestedIPs: [ip] }));
      expect(err.code).toBe('IPAM_REQUESTED_IP');
      expect(err.message).toBe(`network net: ${message}`);
    }
    const bad = await kprError(add(cfg, 'c2', { requestedIPs: ['nope'] }));
    expect(bad.message).toBe('requestedIPs[0]: "nope" is not an IP address');
    // What was taken for c2 before each failure was given back (only the round-robin hints moved on).
    const reservations = (files: Record<string, string>) => Object.entries(files).filter(([name]) => !name.startsWith('last_'));
    expect(reservations(t.files())).toEqual(reservations(before));
  });
});

describe('release, check and gc', () => {
  it('release is idempotent and never fails for unknown attachments', async () => {
    const cfg = t.config(v4);
    await add(cfg, 'c1');
    await release(cfg, { containerId: 'c1', ifName: 'eth0' });
    await release(cfg, { containerId: 'c1', ifName: 'eth0' });
    await release(cfg, { containerId: 'never', ifName: 'eth0' });
    expect(Object.keys(t.files())).toEqual(['last_reserved_ip.0', 'lock']);
  });

  it('check returns what is recorded, or undefined', async () => {
    const cfg = t.config({ ...v4, routes: [{ dst: '0.0.0.0/0' }] });
    const result = await add(cfg, 'c1');
    expect(await check(cfg, { containerId: 'c1', ifName: 'eth0' })).toEqual(result);
    expect(await check(cfg, { containerId: 'c1', ifName: 'eth1' })).toBeUndefined();
  });

  it('gc releases every attachment not in the valid list, including legacy id-only files', async () => {
    const cfg = t.config({ ranges: [[{ subnet: '10.0.0.0/24' }]] });
    for (const id of ['keep', 'drop1', 'drop2']) await add(cfg, id);
    writeFileSync(join(t.dataDir, 'net', '10.0.0.100'), 'legacy');
    writeFileSync(join(t.dataDir, 'net', '10.0.0.101'), 'oldkeep');
    const result = await gc(cfg, [{ containerId: 'keep', ifName: 'eth0' }, { containerId: 'oldkeep', ifName: 'eth0' }]);
    expect(result.released.sort()).toEqual(['10.0.0.100', '10.0.0.3', '10.0.0.4']);
    expect(Object.keys(t.files())).toEqual(['10.0.0.101', '10.0.0.2', 'last_reserved_ip.0', 'lock']);
    expect((await gc(cfg, [])).released.sort()).toEqual(['10.0.0.101', '10.0.0.2']);
  });
});

describe('input checks', () => {
  it('refuses container IDs and interface names that would break the file format', async () => {
    const cfg = t.config(v4);
    expect((await kprError(add(cfg, 'bad\r\nid'))).code).toBe('INVALID_ARGS');
    expect((await kprError(allocate(cfg, { containerId: 'c', ifName: 'a/b' }))).code).toBe('INVALID_ARGS');
  });
});
