import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { syscalls } from './syscalls.ts';

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

// The same behaviour both ways the lock is taken: flock(2) from kpr-sys.node, and the
// util-linux command where the addon is not installed.
const ways = [
  ['kpr-sys.node', async () => {
    if (!syscalls()) throw new Error('kpr-sys.node is not built: run npm run build first');
    return import('./lock.ts');
  }, false],
  ['the flock command', async () => {
    vi.resetModules();
    vi.doMock('./syscalls.ts', () => ({ syscalls: () => undefined }));
    try { return await import('./lock.ts'); } finally { vi.doUnmock('./syscalls.ts'); vi.resetModules(); }
  }, true],
] as const;

describe.each(ways)('lib/lock through %s', (_way, load, spawns) => {
  // The loaded module's own error classes: the second way is a fresh copy of it.
  let withLock: Awaited<ReturnType<typeof load>>['withLock'];
  let isLockError: Awaited<ReturnType<typeof load>>['isLockError'];
  let LockTimeoutError: Awaited<ReturnType<typeof load>>['LockTimeoutError'];
  beforeEach(async () => { ({ withLock, isLockError, LockTimeoutError } = await load()); });

  it(spawns ? 'spawns flock' : 'spawns nothing', async () => {
    const builtins = vi.spyOn(process, 'getBuiltinModule');
    try {
      expect(await withLock(join(dir, 'lock'), () => 'ran')).toBe('ran');
      expect(builtins.mock.calls.some(([id]) => id === 'node:child_process')).toBe(spawns);
    } finally {
      builtins.mockRestore();
    }
  });

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
