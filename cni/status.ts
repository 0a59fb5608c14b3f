// STATUS: can this node service an ADD? The tools kpr-cni runs must be there, and
// IPAM must be ready (an exhausted pool is "not available", code 50).
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { parseNetConf } from './config.ts';
import { CniCode, CniError } from './errors.ts';
import { ipamFor } from './ipam.ts';
import type { Request } from './skel.ts';

export function findTool(name: string, path: string): string | undefined {
  for (const dir of path.split(':').filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch { /* next */ }
  }
  return undefined;
}

export async function cmdStatus(req: Request): Promise<void> {
  const conf = parseNetConf(req.config, req.networkName, req.cniVersion);
  const tools = ['ip', 'nsenter', 'sh', ...(conf.ipMasq ? ['nft', 'flock'] : [])];
  const missing = tools.filter((t) => !findTool(t, req.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'));
  if (missing.length > 0) throw new CniError(CniCode.notAvailable, `required tools not found in PATH: ${missing.join(', ')}`);
  try {
    await (await ipamFor(conf.ipam, req)).status();
  } catch (err) {
    // Whatever IPAM says, this plugin cannot service ADD; keep IPAM's words as details.
    const e = err as { code?: unknown; message?: unknown };
    if (e.code === CniCode.limitedConnectivity || e.code === CniCode.notAvailable) throw err;
    throw new CniError(CniCode.notAvailable, 'IPAM is not available', String(e.message ?? err));
  }
}
