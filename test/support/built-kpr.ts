// The BUILT executable for kernel tests that run it as operators do: waits for a build
// in progress, then pins a private hard link (someone may rebuild dist/ meanwhile).
import { existsSync, linkSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const REPO = resolve(import.meta.dirname, '../..');
// The build links kpr-ipam last: its presence means dist/bin/kpr is complete.
const BUILT_LAST = join(REPO, 'dist/bin/kpr-ipam');

export async function pinBuiltKpr(): Promise<{ kpr: string; release: () => void }> {
  for (let waited = 0; !existsSync(BUILT_LAST) && waited < 60_000; waited += 500) await sleep(500);
  if (!existsSync(BUILT_LAST)) throw new Error('dist/bin/kpr is not built: run npm run build first');
  const dir = mkdtempSync(join(tmpdir(), 'kpr-bin-'));
  const kpr = join(dir, 'kpr');
  linkSync(join(REPO, 'dist/bin/kpr'), kpr);
  return { kpr, release: () => rmSync(dir, { recursive: true, force: true }) };
}
