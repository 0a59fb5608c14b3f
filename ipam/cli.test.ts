import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from './cli.ts';
import { allocate, release } from './index.ts';
import { tempStore, type TempStore } from '../test/support/ipam-store.ts';

let t: TempStore;
beforeEach(() => { t = tempStore(); });
afterEach(() => {
  vi.restoreAllMocks();
  t.cleanup();
});

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out += String(s); return true; });
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => { err += String(s); return true; });
  const code = await main(argv);
  vi.restoreAllMocks();
  return { code, out, err };
}

async function populate(): Promise<void> {
  const now = () => Date.parse('2025-01-01T00:00:00Z');
  const cfg = t.config({ ranges: [[{ subnet: '10.0.0.0/24' }]], sticky: true, stickyTTL: '2h' });
  await allocate(cfg, { containerId: 'c1', ifName: 'eth0', podNamespace: 'default', podName: 'web-0' }, { now });
  await allocate(cfg, { containerId: 'c2', ifName: 'eth0', podNamespace: 'default', podName: 'web-1' }, { now });
  await release(cfg, { containerId: 'c2', ifName: 'eth0' }, { now });
  await allocate(t.config({ subnet: 'fd00::/120' }, 'other'), { containerId: 'c3', ifName: 'net1' });
}

describe('kpr ipam', () => {
  it('list shows every network as a table, with sticky pods and recycled addresses', async () => {
    await populate();
    expect(await run('list', '--data-dir', t.dataDir)).toEqual({
      code: 0,
      err: '',
      out: [
        'NETWORK  IP        CONTAINER ID  IFNAME  POD            STATE',
        'net      10.0.0.2  c1            eth0    default/web-0  allocated',
        'net      10.0.0.3  -             eth0    default/web-1  recycled until 2025-01-01T02:00:00.000Z',
        'other    fd00::2   c3            net1    -              allocated',
        '',
      ].join('\n'),
    });
    expect((await run('list', '--data-dir', t.dataDir, '--network', 'other')).out.split('\n')).toHaveLength(3);
  });

  it('list goes on past a corrupt file, shows it and exits 1 naming it', async () => {
    await populate();
    writeFileSync(join(t.dataDir, 'net', '10.0.0.9'), 'c9\r\n');
    const r = await run('list', '--data-dir', t.dataDir, '--network', 'net');
    expect(r.code).toBe(1);
    expect(r.out).toContain('net      10.0.0.9  -             -       -              corrupt');
    expect(r.out).toContain('10.0.0.2');
    expect(r.err).toBe(`error: ${t.dataDir}/net/10.0.0.9: corrupt reservation file: interface name missing (truncated?)\n`);
  });

  it('show prints one address', async () => {
    await populate();
    expect(await run('show', '10.0.0.2', '--data-dir', t.dataDir)).toEqual({
      code: 0,
      err: '',
      out: `network:   net\nip:        10.0.0.2\nstate:     allocated\ncontainer: c1\nifName:    eth0\npod:       default/web-0\nfile:      ${t.dataDir}/net/10.0.0.2\n`,
    });
    expect(await run('show', '10.0.0.77', '--data-dir', t.dataDir)).toMatchObject({ code: 1, err: `10.0.0.77: not allocated in any network under ${t.dataDir}\n` });
  });

  it('release refuses without --yes, saying what it would release, then releases by IP or container', async () => {
    await populate();
    const dry = await run('release', 'c1', '--data-dir', t.dataDir);
    expect(dry.code).toBe(1);
    expect(dry.out).toBe(
      'would release:\nNETWORK  IP        CONTAINER ID  IFNAME  POD            STATE\nnet      10.0.0.2  c1            eth0    default/web-0  allocated\nnot released: add --yes to release it\n',
    );
    expect(t.files()['10.0.0.2']).toBe('c1\r\neth0');

    expect((await run('release', 'c1', '--yes', '--data-dir', t.dataDir)).code).toBe(0);
    // A recycled address is released by IP, record included.
    expect((await run('release', '10.0.0.3', '--yes', '--data-dir', t.dataDir)).out).toContain('10.0.0.3');
    expect(Object.keys(t.files()).filter((f) => f.startsWith('10.') || f.startsWith('kpr-sticky/'))).toEqual([]);
    expect(await run('release', 'c1', '--yes', '--data-dir', t.dataDir)).toMatchObject({ code: 1, err: 'nothing to release for c1\n' });
  });

  it('refuses a --network that is not a network name, creating nothing outside the data dir', async () => {
    // data dir <tmp>/store, and <tmp>/etc standing for a directory outside it.
    const dataDir = join(t.dataDir, 'store');
    mkdirSync(join(dataDir, 'net'), { recursive: true });
    mkdirSync(join(t.dataDir, 'etc'));
    for (const verb of [['list'], ['show', '10.0.0.2'], ['release', '10.0.0.2', '--yes']]) {
      await expect(run(...verb, '--data-dir', dataDir, '--network', '../etc')).rejects.toMatchObject({
        code: 'INVALID_ARGS', message: expect.stringContaining('--network: invalid network name "../etc"'),
      });
    }
    expect(readdirSync(join(t.dataDir, 'etc'))).toEqual([]);
    expect((await run('list', '--data-dir', dataDir, '--network', 'net')).code).toBe(0);
  });

  it('answers usage errors with exit 2', async () => {
    expect((await run('show')).code).toBe(2);
    expect((await run('list', 'extra')).code).toBe(2);
    expect((await run('frobnicate', 'x')).code).toBe(2);
    expect((await run('list', '--bogus')).code).toBe(2);
    await expect(run('list', '--data-dir', join(t.dataDir, 'missing'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
