// The one lock between kpr processes on a node: flock(2) on a file, exclusive. The
// IPAM store's <network dir>/lock is the very lock host-local takes (go-filemutex),
// so kpr and a stock host-local can run side by side on one directory; kpr-cni's
// masquerade table takes one too. A kill -9 closes our descriptor in the kernel, so a
// crash can never leave the lock held (an O_EXCL lock file with pid-based staleness
// checks would, and would race on pid reuse).
//
// Node has no flock binding; kpr-sys.node (lib/syscalls.ts) has one. It is tried
// without blocking and retried after a short sleep, since a blocking flock(2) would
// stop the event loop and could not time out; a waiter may so be overtaken by a newer
// one, which a lock held for milliseconds makes harmless. Without the addon (a plugin
// installed without it), the util-linux `flock` command takes it for us, one spawn per
// locked call (~3 ms): we open the lock file and hand that descriptor to `flock -x 3`
// as its fd 3. flock(2) locks belong to the open file description, which the child
// shares with us, so the lock stays held through our descriptor after the child exits.
import { closeSync, constants, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorGuard, KprError } from './errors.ts';
import { syscalls, type Syscalls } from './syscalls.ts';

export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;

export type LockErrorCode =
  /** The lock cannot be taken at all (the file cannot be opened, flock fails or cannot run). */
  | 'LOCK'
  /** Another process held it for the whole timeout: transient, worth a retry (not a kernel error). */
  | 'LOCK_TIMEOUT';

export class LockError extends KprError<LockErrorCode> {}

export const isLockError = errorGuard<LockErrorCode, LockError>(LockError);

/** Another process held the lock for the whole timeout. */
export class LockTimeoutError extends LockError {
  readonly timeoutMs: number;

  constructor(lockPath: string, timeoutMs: number) {
    super('LOCK_TIMEOUT', `still locked by another process after ${timeoutMs} ms`, { object: lockPath });
    this.name = 'LockTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

// flock's exit status for "timed out" (-E); anything else is a usage or I/O failure.
const TIMEOUT_EXIT = 75;

function flockCommand(): string {
  return ['/usr/bin/flock', '/bin/flock'].find((p) => existsSync(p)) ?? 'flock';
}

// The longest sleep between two tries: the locks guard steps of a few milliseconds.
const MAX_RETRY_MS = 8;

async function acquireBySyscall(sys: Syscalls, fd: number, lockPath: string, timeoutMs: number): Promise<void> {
  // Date.now, not performance.now: the global performance loads node:perf_hooks, ~1.5 ms
  // of every CNI call.
  const deadline = Date.now() + timeoutMs;
  for (let sleep = 1; ; sleep = Math.min(sleep * 2, MAX_RETRY_MS)) {
    let taken: boolean;
    try {
      taken = sys.tryLock(fd);
    } catch (err) {
      throw new LockError('LOCK', 'flock(2) failed', { object: lockPath, cause: err });
    }
    if (taken) return;
    const left = deadline - Date.now();
    if (left <= 0) throw new LockTimeoutError(lockPath, timeoutMs);
    await new Promise((r) => setTimeout(r, Math.min(sleep, left)));
  }
}

function acquire(fd: number, lockPath: string, timeoutMs: number): Promise<void> {
  const sys = syscalls();
  return sys ? acquireBySyscall(sys, fd, lockPath, timeoutMs) : acquireByCommand(fd, lockPath, timeoutMs);
}

function acquireByCommand(fd: number, lockPath: string, timeoutMs: number): Promise<void> {
  const seconds = String(Math.max(timeoutMs / 1000, 0.001));
  return new Promise((resolve, reject) => {
    // Loaded here only: with the addon, no locked call needs node:child_process (~2 ms).
    const { spawn } = process.getBuiltinModule('node:child_process');
    // flock's stderr is ours (a log, a terminal): a pipe to read it would cost every
    // locked call of the CNI plugin ~2 ms of Node's stream set-up, for a message that
    // only a usage or I/O failure prints.
    const child = spawn(flockCommand(), ['--exclusive', '--timeout', seconds, '--conflict-exit-code', String(TIMEOUT_EXIT), '3'], {
      stdio: ['ignore', 'ignore', 'inherit', fd],
    });
    child.on('error', (err) => {
      reject(new LockError('LOCK', 'cannot run flock (util-linux) to take the lock', { object: lockPath, cause: err }));
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else if (code === TIMEOUT_EXIT) reject(new LockTimeoutError(lockPath, timeoutMs));
      else reject(new LockError('LOCK', `flock failed (${signal ?? `exit ${code}`}; its message is on stderr)`, { object: lockPath }));
    });
  });
}

/**
 * Runs fn with the exclusive lock on lockPath held (creating the file, and with
 * createDir its directory), and releases it however fn ends. Throws LockTimeoutError
 * after timeoutMs, KprError LOCK when the lock cannot be taken at all.
 */
export async function withLock<T>(
  lockPath: string, fn: () => T | Promise<T>, opts: { timeoutMs?: number | undefined; createDir?: boolean } = {},
): Promise<T> {
  let fd: number;
  try {
    if (opts.createDir) mkdirSync(dirname(lockPath), { recursive: true });
    fd = openSync(lockPath, constants.O_RDONLY | constants.O_CREAT, 0o644);
  } catch (err) {
    throw new LockError('LOCK', 'cannot open the lock file', { object: lockPath, cause: err });
  }
  try {
    await acquire(fd, lockPath, opts.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
    return await fn();
  } finally {
    closeSync(fd);
  }
}
