import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isLockError, LockTimeoutError, withLock } from './lock.ts';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'kpr-lock-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** One process holding flock(2) on the file as host-local would, until killed; `held` once it has it. */
function holder(path: string) {
  const child = spawn('sh', ['-c', 'exec 9>"$1"; flock -x 9; echo held; exec sleep 60', 'sh', path], { stdio: ['ignore', 'pipe', 'ignore'] });
  const held = new Promise<void>((r) => child.stdout.once('data', () => r()));
  const gone = new Promise<void>((r) => child.on('close', () => r()));
  return { child, held, gone };
}

describe('lib/lock', () => {
  it('waits for another process holding flock(2) on the same file, and times out with a typed error', async () => {
    const path = join(dir, 'sub', 'lock');
    const h = holder(join(dir, 'lock'));
    await h.held;
    const err = await withLock(join(dir, 'lock'), () => 'ran', { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockTimeoutError);
    expect(isLockError(err, 'LOCK_TIMEOUT')).toBe(true);
    expect(err).toMatchObject({ object: join(dir, 'lock') });
    h.child.kill('SIGKILL');
    await h.gone;
    expect(await withLock(join(dir, 'lock'), () => 'ran', { timeoutMs: 2000 })).toBe('ran');
    expect(await withLock(path, () => 'made the directory', { createDir: true })).toBe('made the directory');
  });

  it('serialises holders in one process and releases the lock when fn throws', async () => {
    const path = join(dir, 'lock');
    const order: string[] = [];
    const first = withLock(path, async () => { order.push('a in'); await new Promise((r) => setTimeout(r, 100)); order.push('a out'); });
    await new Promise((r) => setTimeout(r, 30));
    const second = withLock(path, () => { order.push('b'); });
    await Promise.all([first, second]);
    expect(order).toEqual(['a in', 'a out', 'b']);
    await expect(withLock(path, () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(await withLock(path, () => 'free', { timeoutMs: 500 })).toBe('free');
  });

  it('a lock file that cannot be opened is a LOCK error, not a timeout', async () => {
    const err = await withLock(join(dir, 'missing', 'lock'), () => 'ran').catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(LockTimeoutError);
    expect(isLockError(err, 'LOCK')).toBe(true);
  });
});
