// Shared by the ipam tests: a throwaway data directory and configs pointing at it.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseIpamConfig, type IpamConfig } from '../../ipam/config.ts';
import { isIpamError, type IpamError } from '../../ipam/errors.ts';

export interface TempStore {
  dataDir: string;
  /** A config for network "net" (unless raw sets one) stored under dataDir. */
  config(raw: Record<string, unknown>, network?: string): IpamConfig;
  /** The network directory's files, sorted, with their content. */
  files(network?: string): Record<string, string>;
  cleanup(): void;
}

export function tempStore(): TempStore {
  const dataDir = mkdtempSync(join(tmpdir(), 'kpr-ipam-'));
  return {
    dataDir,
    config: (raw, network = 'net') => parseIpamConfig({ dataDir, ...raw }, network),
    files: (network = 'net') => {
      const dir = join(dataDir, network);
      const out: Record<string, string> = {};
      for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()) {
        try {
          out[name] = readFileSync(join(dir, name), 'utf8');
        } catch {
          // a directory
        }
      }
      return out;
    },
    cleanup: () => rmSync(dataDir, { recursive: true, force: true }),
  };
}

/** The IPAM error a promise rejects with (fails the test if it resolves or throws something else). */
export async function kprError(p: Promise<unknown>): Promise<IpamError> {
  try {
    await p;
  } catch (err) {
    if (isIpamError(err)) return err;
    throw err;
  }
  throw new Error('expected an IpamError');
}

/** Debian's containernetworking-plugins host-local, the compatibility target. */
export const HOST_LOCAL = '/usr/lib/cni/host-local';

/** Runs host-local for one CNI command; resolves to its exit status and parsed stdout (result or error object). */
export function hostLocal(command: 'ADD' | 'DEL' | 'CHECK', dataDir: string, ipam: object, containerId: string, env: Record<string, string> = {}) {
  const child = spawn(HOST_LOCAL, {
    env: { CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_IFNAME: 'eth0', CNI_NETNS: '/nonexistent', CNI_PATH: '/usr/lib/cni', ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  child.stdin.end(JSON.stringify({ cniVersion: '1.0.0', name: 'net', type: 'bridge', ipam: { type: 'host-local', dataDir, ...ipam } }));
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  return new Promise<{ status: number | null; ips?: { address: string }[]; code?: number; msg?: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, ...(stdout.trim() === '' ? {} : JSON.parse(stdout)) }));
  });
}
