import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from './cli.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kpr-apiserver-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function waitForFile(path: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('kpr apiserver', () => {
  it('rejects unknown flags with exit code 2', async () => {
    expect(await main(['--nope'])).toBe(2);
  });

  it('serves the given objects, writes a working kubeconfig and stops on SIGTERM', async () => {
    const objects = join(dir, 'objects.yaml');
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(objects, 'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec: {clusterIP: 10.96.0.10}\n');
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/kpr.ts', 'apiserver', '--listen', '127.0.0.1:0', '--objects', objects, '--kubeconfig-out', kubeconfig], {
      cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const kc = new KubeConfig();
      kc.loadFromString(await waitForFile(kubeconfig, 15_000));
      const list = await kc.makeApiClient(CoreV1Api).listServiceForAllNamespaces();
      expect(list.items.map((s) => s.metadata?.name)).toEqual(['web']);
      expect(stderr).toContain(kc.getCurrentCluster()?.server);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 30_000);
});
