// The one lock between kpr processes on a node: flock(2) on a file, exclusive. The
// IPAM store's <network dir>/lock is the very lock host-local takes (go-filemutex),
// so kpr and a stock host-local can run side by side on one directory; kpr-cni's
// masquerade table takes one too.
//
// Node has no flock binding, nor has the one native addon kpr ships (netlink: sockets
// only), so the util-linux `flock` command takes it for us: one spawn per locked call
// (~3 ms unloaded), the one left on kpr-cni's ADD and DEL besides `ip` in the pod. We open the lock file
// and hand that descriptor to `flock -x 3` as its fd 3: flock(2) locks belong to the
// open file description, which the child shares with us, so when the child exits
// having locked it, the lock stays held through our descriptor, without a helper
// process lingering. Closing our descriptor releases it, and so does our death: a
// kill -9 closes it in the kernel, so a crash can never leave the lock held (an
// O_EXCL lock file with pid-based staleness checks would, and would race on pid reuse).
import { spawn } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorGuard, KprError } from './errors.ts';

export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;

export type LockErrorCode =
  /** The lock cannot be taken at all (the file cannot be opened, flock cannot run). */
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

function acquire(fd: number, lockPath: string, timeoutMs: number): Promise<void> {
  const seconds = String(Math.max(timeoutMs / 1000, 0.001));
  return new Promise((resolve, reject) => {
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
