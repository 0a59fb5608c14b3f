// Separate processes racing for addresses, and one killed while holding the lock.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allocate, gc } from './index.ts';
import { HOST_LOCAL, hostLocal, tempStore, type TempStore } from '../test/support/ipam-store.ts';

const WORKER = join(import.meta.dirname, 'alloc-worker.ts');

interface Outcome {
  ips?: string[];
  code?: string;
  message?: string;
  reserved?: string;
}

function worker(dataDir: string, ranges: object, containerId: string, mode = 'allocate') {
  const child = spawn(process.execPath, [WORKER, dataDir, JSON.stringify(ranges), containerId, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const firstLine = new Promise<Outcome>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out.slice(0, out.indexOf('\n'))) as Outcome);
    });
    child.on('close', (code) => reject(new Error(`worker ${containerId} exited ${code} without output`)));
  });
  return { child, firstLine };
}

let t: TempStore;
beforeEach(() => { t = tempStore(); });
afterEach(() => t.cleanup());

describe('concurrent allocation from separate processes', { timeout: 120_000 }, () => {
  it('100 processes (and host-local alongside) on a /24 all get distinct addresses', async () => {
    const ranges = [[{ subnet: '10.1.0.0/24' }]];
    const ours = Array.from({ length: 100 }, (_, i) => worker(t.dataDir, ranges, `k${i}`).firstLine);
    // host-local takes the same flock, so it can run in the middle of the race.
    const theirs = await Promise.all(existsSync(HOST_LOCAL) ? Array.from({ length: 20 }, (_, i) => hostLocal('ADD', t.dataDir, { ranges }, `h${i}`)) : []);
    const outcomes = await Promise.all(ours);
    const got = [...outcomes.flatMap((o) => o.ips ?? []), ...theirs.flatMap((r) => (r.ips ?? []).map((i) => i.address))];
    expect(outcomes.filter((o) => !o.ips)).toEqual([]);
    expect(got).toHaveLength(100 + theirs.length);
    expect(new Set(got).size).toBe(got.length);
    expect(Object.keys(t.files()).filter((f) => f.startsWith('10.'))).toHaveLength(got.length);
  });

  it('100 processes on a /26 fill it with distinct addresses and the rest fail cleanly with IPAM_EXHAUSTED', async () => {
    const ranges = [[{ subnet: '10.2.0.0/26' }]];
    const outcomes = await Promise.all(Array.from({ length: 100 }, (_, i) => worker(t.dataDir, ranges, `k${i}`).firstLine));
    const got = outcomes.flatMap((o) => o.ips ?? []);
    expect(got).toHaveLength(61); // .2 to .62: not the network, gateway .1 or broadcast
    expect(new Set(got).size).toBe(61);
    const failures = outcomes.filter((o) => !o.ips);
    expect(failures).toHaveLength(39);
    for (const f of failures) expect(f).toEqual({ code: 'IPAM_EXHAUSTED', message: 'network net: no addresses left in range 10.2.0.1-10.2.0.62' });
  });
});

describe('a process killed with SIGKILL mid-allocation', () => {
  it('leaves no stuck lock and a store the next allocation reads correctly', async () => {
    const ranges = [[{ subnet: '10.3.0.0/24' }]];
    const hung = worker(t.dataDir, ranges, 'dead', 'hang');
    expect(await hung.firstLine).toEqual({ reserved: '10.3.0.2' });

    // The lock is held: a competitor waits.
    const next = worker(t.dataDir, ranges, 'next');
    const early = await Promise.race([next.firstLine, new Promise((r) => setTimeout(() => r('waiting'), 500))]);
    expect(early).toBe('waiting');

    // A temporary file as a kill -9 during a write would leave it.
    writeFileSync(join(t.dataDir, 'net', '.kpr-tmp-999999-0bad'), 'half');
    hung.child.kill('SIGKILL');
    expect(await next.firstLine).toEqual({ ips: ['10.3.0.3/24'] });
    const files = t.files();
    expect(files['10.3.0.2']).toBe('dead\r\neth0'); // complete, never half-written
    expect(files['.kpr-tmp-999999-0bad']).toBeUndefined();
    // The killed container's address is released by the DEL/GC the runtime sends after a failed ADD.
    expect((await gc(t.config({ ranges }), [{ containerId: 'next', ifName: 'eth0' }])).released).toEqual(['10.3.0.2']);
    expect((await allocate(t.config({ ranges }), { containerId: 'again', ifName: 'eth0' })).ips[0]?.address).toBe('10.3.0.4/24');
  });
});
