// `kubectl apply --dry-run=client -f manifests/kpr.yaml` validates, as an operator would run
// it before applying: against the embedded API server (which serves the manifest's kinds),
// with the kubectl scripts/setup.sh installs.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../apiserver/server.ts';

const execFileP = promisify(execFile);
const MANIFEST = new URL('./kpr.yaml', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'kpr-kubectl-'));
let api: ApiServer;

const apply = async (file: string, extra: string[]) =>
  execFileP('kubectl', ['--kubeconfig', join(dir, 'kubeconfig'), 'apply', ...extra, '-f', file]).then(
    (r) => ({ ok: true, out: r.stdout }),
    (err: { stderr?: string; message: string }) => ({ ok: false, out: err.stderr ?? err.message }),
  );

beforeAll(async () => {
  api = await startApiServer({ objects: [] });
  await api.writeKubeconfig(join(dir, 'kubeconfig'));
});
afterAll(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('kubectl apply of manifests/kpr.yaml', () => {
  it('--dry-run=client validates every object and creates nothing', async () => {
    const r = await apply(MANIFEST, ['--dry-run=client']);
    expect(r.ok, r.out).toBe(true);
    expect(r.out.trim().split('\n')).toEqual([
      'serviceaccount/kpr created (dry run)',
      'clusterrole.rbac.authorization.k8s.io/kpr created (dry run)',
      'clusterrolebinding.rbac.authorization.k8s.io/kpr created (dry run)',
      'configmap/kpr-config created (dry run)',
      'daemonset.apps/kpr created (dry run)',
    ]);
    expect(api.list('DaemonSet')).toEqual([]);
  });

  it('fails on a manifest kubectl cannot map (a misspelt kind)', async () => {
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, readFileSync(MANIFEST, 'utf8').replace('kind: DaemonSet', 'kind: DaemonSett'));
    const r = await apply(broken, ['--dry-run=client']);
    expect(r.ok).toBe(false);
    expect(r.out).toContain('DaemonSett');
  });
});
