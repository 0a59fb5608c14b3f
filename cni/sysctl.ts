// sysctls of a network namespace, written through /proc/sys, which resolves net.*
// against the netns of the thread that opens the file: the node's, or the pod's inside
// syscalls().inNetns (rtnetlink.ts). No spawn needed.
import { readFileSync, writeFileSync } from 'node:fs';
import { KprError } from '../lib/errors.ts';

/** Writes each "net/ipv4/ip_forward" → value, skipping those already set. */
export function writeSysctls(entries: ReadonlyArray<readonly [string, string]>): void {
  for (const [key, value] of entries) {
    const path = `/proc/sys/${key}`;
    try {
      if (readFileSync(path, 'utf8').trim() === value) continue;
      writeFileSync(path, value);
    } catch (err) {
      throw new KprError('KERNEL', `cannot set sysctl ${key.replaceAll('/', '.')}=${value}`, { object: path, cause: err });
    }
  }
}
