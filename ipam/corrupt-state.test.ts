import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allocate, check, gc, release, status } from './index.ts';
import { kprError, tempStore, type TempStore } from '../test/support/ipam-store.ts';

let t: TempStore;
beforeEach(() => { t = tempStore(); });
afterEach(() => t.cleanup());

const range = { ranges: [[{ subnet: '10.0.0.0/29' }]] };
const att = (containerId: string) => ({ containerId, ifName: 'eth0' });

function capturingLogger(): { log: pino.Logger; lines: () => { msg: string; object?: string }[] } {
  const out: string[] = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => { out.push(s); } });
  return { log, lines: () => out.map((l) => JSON.parse(l) as { msg: string; object?: string }) };
}

describe('unreadable state files', () => {
  it('steps around truncated or corrupt reservation files, naming them, and loses nothing else', async () => {
    const cfg = t.config(range);
    await allocate(cfg, att('c1'));
    await allocate(cfg, att('c2'));
    const dir = join(t.dataDir, 'net');
    writeFileSync(join(dir, '10.0.0.4'), ''); // created, never written
    writeFileSync(join(dir, '10.0.0.5'), 'c9\r\n'); // cut after the line break
    writeFileSync(join(dir, '10.0.0.6'), Buffer.from([0, 0xff, 0x13]));
    writeFileSync(join(dir, 'last_reserved_ip.0'), 'garbage');

    // Allocation skips the damaged addresses instead of overwriting them; the
    // damaged last_reserved_ip only restarts round robin.
    const err = await kprError(allocate(cfg, att('c3')));
    expect(err.code).toBe('IPAM_EXHAUSTED');
    expect(err.message).toBe('network net: no addresses left in range 10.0.0.1-10.0.0.6 (3 held by unreadable files, see kpr ipam list)');
    await release(cfg, att('c1'));
    const { log, lines } = capturingLogger();
    expect((await allocate(cfg, att('c3'), { log })).ips[0]?.address).toBe('10.0.0.2/29');
    expect(lines().map((l) => l.msg)).toEqual([
      `${dir}/10.0.0.4: corrupt reservation file: empty (truncated?)`,
      `${dir}/10.0.0.5: corrupt reservation file: interface name missing (truncated?)`,
      `${dir}/10.0.0.6: corrupt reservation file: first line is not a container ID`,
    ]);

    // The others are intact; a CHECK that finds nothing says which files it could not read.
    expect((await check(cfg, att('c2')))?.ips).toEqual([{ address: '10.0.0.3/29', gateway: '10.0.0.1' }]);
    const checkErr = await kprError(check(cfg, att('c7')));
    expect(checkErr.code).toBe('IPAM_STATE');
    expect(checkErr.message).toContain(`${dir}/10.0.0.4: corrupt reservation file`);

    // GC releases the stale attachments, keeps the unreadable files and reports them.
    const result = await gc(cfg, []);
    expect(result.released.sort()).toEqual(['10.0.0.2', '10.0.0.3']);
    expect(result.problems.map((p) => [p.code, p.object])).toEqual([
      ['IPAM_STATE', `${dir}/10.0.0.4`],
      ['IPAM_STATE', `${dir}/10.0.0.5`],
      ['IPAM_STATE', `${dir}/10.0.0.6`],
    ]);
    expect(Object.keys(t.files()).filter((f) => f.startsWith('10.'))).toEqual(['10.0.0.4', '10.0.0.5', '10.0.0.6']);
  });

  it('refuses a requested address whose file is unreadable, naming the file', async () => {
    const cfg = t.config(range);
    mkdirSync(join(t.dataDir, 'net'), { recursive: true });
    writeFileSync(join(t.dataDir, 'net', '10.0.0.3'), '');
    const err = await kprError(allocate(cfg, { ...att('c1'), requestedIPs: ['10.0.0.3'] }));
    expect(err.message).toBe(
      `network net: requested address 10.0.0.3 is not available: its reservation file is unreadable (${t.dataDir}/net/10.0.0.3: corrupt reservation file: empty (truncated?))`,
    );
  });

  it('keeps a recycled address whose sticky record is corrupt, and reports the record', async () => {
    const now = () => Date.parse('2025-01-01T00:00:00Z');
    const cfg = t.config({ ranges: [[{ subnet: '10.0.0.0/30' }]], sticky: true, stickyTTL: '1s' });
    await allocate(cfg, { ...att('c1'), podNamespace: 'ns', podName: 'a' }, { now });
    await release(cfg, att('c1'), { now });
    const record = join(t.dataDir, 'net', 'kpr-sticky', '10.0.0.2');
    writeFileSync(record, '{"podNamespace":"ns","podN');
    const result = await gc(cfg, [], { now: () => now() + 10_000 });
    expect(result.reclaimed).toEqual([]);
    expect(result.problems.map((p) => p.message)).toEqual([`${record}: corrupt sticky record: not JSON`]);
    await expect(status(cfg, { now })).rejects.toMatchObject({ code: 'IPAM_EXHAUSTED' });
  });
});
