// The system calls Node lacks (setns, flock, malloc_trim), from kpr-sys.node: the
// small addon built from lib/native/syscalls.c and shipped next to the executable like
// netlink.node. Every user has a way without it (a spawn of `flock`, `ip`, `nsenter`;
// no trim), so a plugin installed by an older step that copied only the executable
// keeps working: syscalls() is undefined then.
import { closeSync, existsSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isSea } from 'node:sea';
import { fileURLToPath } from 'node:url';
import { KprError } from './errors.ts';
import { lazy } from './lazy.ts';

export const SYSCALLS_ADDON = 'kpr-sys.node';

interface Native {
  setns(fd: number): void;
  tryLock(fd: number): boolean;
  mallocTrim(): boolean;
}

export interface Syscalls {
  /** flock(2) LOCK_EX|LOCK_NB on fd: true when taken, false when another open file holds it. */
  tryLock(fd: number): boolean;
  /**
   * Runs fn with this thread in the netns at path (sockets and /proc/sys files opened
   * then belong to it), and back. fn must be synchronous: nothing else may run meanwhile.
   */
  inNetns<T>(path: string, fn: () => T): T;
  /** glibc's malloc_trim(0): true when it returned memory to the kernel. */
  mallocTrim(): boolean;
}

function addonPath(): string | undefined {
  // The executable: next to it. A plain node: next to the bundle (dist/bin/) or, from
  // source, the build's dist/bin/.
  if (isSea()) return join(dirname(process.execPath), SYSCALLS_ADDON);
  const here = dirname(fileURLToPath(import.meta.url));
  return [join(here, 'bin', SYSCALLS_ADDON), join(here, '..', 'dist', 'bin', SYSCALLS_ADDON)].find((p) => existsSync(p));
}

function load(): Syscalls | undefined {
  const file = addonPath();
  if (!file) return undefined;
  const mod = { exports: {} as Partial<Native> };
  try {
    process.dlopen(mod, file);
  } catch {
    return undefined;
  }
  const n = mod.exports;
  if (!n.setns || !n.tryLock || !n.mallocTrim) return undefined;
  return { tryLock: n.tryLock, mallocTrim: n.mallocTrim, inNetns: (path, fn) => inNetns(n as Native, path, fn) };
}

/** A file descriptor of the netns at path (setns(2) and IFLA_NET_NS_FD take one). */
export function openNetns(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (err) {
    throw new KprError('KERNEL', 'cannot open the network namespace', { object: path, cause: err });
  }
}

function inNetns<T>(n: Native, path: string, fn: () => T): T {
  // thread-self: setns(2) moves this thread only, and the way back must be its own netns.
  const home = openNetns('/proc/thread-self/ns/net');
  try {
    const target = openNetns(path);
    try {
      n.setns(target);
    } catch (err) {
      throw new KprError('KERNEL', 'cannot enter the network namespace', { object: path, cause: err });
    } finally {
      closeSync(target);
    }
    try {
      return fn();
    } finally {
      // Failing to come back would leave the process in the pod's netns: nothing
      // after it could be trusted.
      try { n.setns(home); } catch { process.abort(); }
    }
  } finally {
    closeSync(home);
  }
}

/** The addon's calls, loaded on first use (~0.3 ms); undefined where it is not installed. */
export const syscalls: () => Syscalls | undefined = lazy(load);
