// Where the node agent meets the CNI plugin (as flannel's subnet file): the node's pod
// CIDRs from its Node object, written atomically as JSON for kpr-ipam's podCIDRFile.
// Only the format is shared, so proxy/ never imports ipam/.
import { mkdir, rename, writeFile, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { normalizeCIDR } from '../../lib/ip.ts';
import type { Node } from '../watch/objects.ts';

/** The Node's pod CIDRs (spec.podCIDRs, else spec.podCIDR), normalised; none when unassigned. */
export function podCIDRsOf(node: Node): string[] {
  const raw = node.spec.podCIDRs?.length ? node.spec.podCIDRs : node.spec.podCIDR ? [node.spec.podCIDR] : [];
  return raw.map((c) => normalizeCIDR(c)).filter((c): c is string => !!c);
}

/** Writes `{"podCIDRs": [...]}` unless the file already says so; returns whether it wrote. */
export async function writePodCIDRFile(path: string, cidrs: readonly string[]): Promise<boolean> {
  const text = `${JSON.stringify({ podCIDRs: cidrs })}\n`;
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === text) return false;
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
  return true;
}
