// IPVS virtual servers carry no names, so the IPVS mode keeps a small state file per
// family beside the kernel: virtual server (vsKey) -> the ServicePort it implements
// ("ns/name:port"). `kpr inspect` and `kpr explain` read it to name what they show.
// Written atomically after each sync that changed it; removed by cleanup.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as z from 'zod';
import { KprError } from '../../lib/errors.ts';
import type { IPFamily } from '../../lib/ip.ts';

/** Where `kpr proxy` keeps its state files (a tmpfs: IPVS state does not outlive a boot either). */
export const STATE_DIR = '/run/kpr';

export const namesFile = (dir: string, family: IPFamily) => join(dir, `ipvs-services-ipv${family}.json`);

const namesSchema = z.object({ services: z.record(z.string(), z.string()) });

/** The file's text for a vsKey -> name map: keys sorted, so that equal maps give equal text. */
export function formatNames(names: ReadonlyMap<string, string>): string {
  const services = Object.fromEntries([...names].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return `${JSON.stringify({ services }, null, 1)}\n`;
}

export function parseNames(text: string, path: string): Map<string, string> {
  try {
    return new Map(Object.entries(namesSchema.parse(JSON.parse(text)).services));
  } catch (cause) {
    throw new KprError('IPVS_NAMES', 'not a kpr IPVS names file', { object: path, cause });
  }
}

/** Replaces the file atomically (readers never see half of it). */
export async function writeNames(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

export async function removeNames(path: string): Promise<void> {
  await rm(path, { force: true });
}
