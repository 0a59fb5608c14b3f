// The BUILT executable for kernel tests that run it as operators do: waits for a build
// in progress, then hard-links it into a private directory (someone may rebuild dist/
// meanwhile, and a test process keeps the binary it started with).
import { existsSync, linkSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '../..');
const BUILT = join(REPO, 'dist/bin/kpr');
// The build links kpr-ipam last: its presence means dist/bin/kpr is complete.
const BUILT_LAST = join(REPO, 'dist/bin/kpr-ipam');
const ADDONS = ['netlink.node', 'kpr-sys.node'];

/**
 * The built executable hard-linked under `names` (it picks its role from its name), with
 * the addons beside it, in a fresh directory; nothing is linked when there is no
 * build after a minute's wait (callers say "run npm run build"). Synchronous, so that a
 * module can pin at import.
 */
export function pinBuilt(names: readonly string[]): { dir: string; release: () => void } {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; !existsSync(BUILT_LAST) && waited < 60_000; waited += 500) Atomics.wait(sleeper, 0, 0, 500);
  const dir = mkdtempSync(join(tmpdir(), 'kpr-bin-'));
  if (existsSync(BUILT_LAST)) {
    for (const name of names) linkSync(BUILT, join(dir, name));
    for (const a of ADDONS) if (existsSync(join(REPO, 'dist/bin', a))) linkSync(join(REPO, 'dist/bin', a), join(dir, a));
  }
  return { dir, release: () => rmSync(dir, { recursive: true, force: true }) };
}

export function pinBuiltKpr(): { kpr: string; release: () => void } {
  const { dir, release } = pinBuilt(['kpr']);
  const kpr = join(dir, 'kpr');
  if (!existsSync(kpr)) {
    release();
    throw new Error('dist/bin/kpr is not built: run npm run build first');
  }
  return { kpr, release };
}
