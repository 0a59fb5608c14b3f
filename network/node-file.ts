// The node file: where `kpr network` tells kpr-cni (conflist key `nodeFile`) and kpr-ipam
// (`podCIDRFile`) the node's pod CIDRs and the pod MTU, as flannel's subnet.env. Written
// atomically (temp file + rename) so a reader never sees half of it.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Backend } from './config.ts';

export interface NodeFile {
  podCIDRs: string[];
  mtu: number;
  backend: Backend;
}

export function renderNodeFile(f: NodeFile): string {
  return `${JSON.stringify({ podCIDRs: f.podCIDRs, mtu: f.mtu, backend: f.backend })}\n`;
}

/** Writes the file unless it already says the same; returns whether it wrote. */
export async function writeNodeFile(path: string, f: NodeFile): Promise<boolean> {
  const text = renderNodeFile(f);
  if ((await readFile(path, 'utf8').catch(() => undefined)) === text) return false;
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
  return true;
}

export async function removeNodeFile(path: string): Promise<void> {
  await rm(path, { force: true });
}
