// A node-wide lock between plugin processes (Node has no flock): a file created
// exclusively, holding the owner's pid so that the lock of a killed owner is taken
// over instead of blocking every later call.
import { mkdirSync, openSync, readFileSync, unlinkSync, writeSync, closeSync, renameSync } from 'node:fs';
import { KprError } from '../lib/errors.ts';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

function tryTake(path: string): boolean {
  try {
    const fd = openSync(path, 'wx');
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  let owner = NaN;
  try { owner = Number(readFileSync(path, 'utf8')); } catch { return false; }
  // An empty file is an owner between open and write: wait for it.
  if (!Number.isInteger(owner) || owner <= 0 || alive(owner)) return false;
  // Take over a dead owner's lock by renaming it away first: only one taker wins the rename.
  try { renameSync(path, `${path}.stale.${process.pid}`); unlinkSync(`${path}.stale.${process.pid}`); } catch { /* another taker won */ }
  return false;
}

/** Runs fn holding the lock file at path; gives up after timeoutMs. */
export function withLock<T>(path: string, fn: () => T, timeoutMs = 10_000): T {
  mkdirSync(path.slice(0, path.lastIndexOf('/')) || '/', { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (let wait = 1; !tryTake(path); wait = Math.min(wait * 2, 20)) {
    if (Date.now() > deadline) throw new KprError('KERNEL', `timed out waiting for lock ${path}`, { object: path });
    Atomics.wait(sleeper, 0, 0, wait);
  }
  try {
    return fn();
  } finally {
    try { unlinkSync(path); } catch { /* taken over after a stall: nothing to release */ }
  }
}
