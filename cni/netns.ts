// CNI_NETNS checked before anything is allocated: the path must hold a network
// namespace, and not the plugin's own. A path where nothing is mounted (a runtime's
// pinned netns file after its namespace went away) means the container is gone
// (code 3); a namespace of another type is a wrong CNI_NETNS (code 4).
import { readFileSync, readlinkSync, statfsSync, statSync, type Stats } from 'node:fs';
import { CniCode, CniError } from './errors.ts';

const NSFS_MAGIC = 0x6e736673;

/** "net", "mnt", … for a namespace file: /proc/<pid>/ns/* link text, or the root of its bind mount. */
export function namespaceType(path: string, ino: number, mountinfo: () => string): string | undefined {
  try {
    const m = /^(\w+):\[(\d+)\]$/.exec(readlinkSync(path));
    if (m) return m[1];
  } catch { /* not a magic link: a bind mount such as /run/netns/<name> */ }
  for (const line of mountinfo().split('\n')) {
    // "<id> <parent> <dev> <root> <mount point> … - nsfs nsfs …": root is "net:[<ino>]".
    const m = /^\S+ \S+ \S+ (\w+):\[(\d+)\] /.exec(line);
    if (m && Number(m[2]) === ino && line.includes(' - nsfs ')) return m[1];
  }
  return undefined;
}

function procMountinfo(): string {
  try { return readFileSync('/proc/self/mountinfo', 'utf8'); } catch { return ''; }
}

export function checkNetns(path: string): void {
  let target: Stats;
  try {
    target = statSync(path);
  } catch (err) {
    throw new CniError(CniCode.unknownContainer, `failed to open netns "${path}"`, (err as Error).message);
  }
  if (statfsSync(path).type !== NSFS_MAGIC) {
    throw new CniError(CniCode.unknownContainer, `CNI_NETNS "${path}" is not a network namespace`, 'no namespace is mounted there (was it deleted?)');
  }
  const type = namespaceType(path, target.ino, procMountinfo);
  if (type !== undefined && type !== 'net') {
    throw new CniError(CniCode.invalidEnvironment, `invalid CNI_NETNS: "${path}" is a ${type} namespace, not a network namespace`);
  }
  const own = statSync('/proc/self/ns/net');
  if (target.ino === own.ino && target.dev === own.dev) {
    throw new CniError(CniCode.invalidNetns, `CNI_NETNS "${path}" is the plugin's own network namespace`);
  }
}
