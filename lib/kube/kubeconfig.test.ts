// Loading the client configuration: what client-go accepts works (an http:// server, as
// `kubectl proxy` serves), and what can never work fails at once, naming the fix.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { afterThisTest, testServer } from '../../test/support/apiserver.ts';
import { errorMessage } from '../errors.ts';
import { createLogger } from '../log.ts';
import { Informer } from './informer.ts';
import { loadKubeConfig } from './kubeconfig.ts';
import { isKubeError } from './errors.ts';

const log = createLogger('test', 'silent');
const dir = mkdtempSync(join(tmpdir(), 'kpr-kubeconfig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.unstubAllEnvs());

const svc = (name: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { ports: [{ port: 80 }] } });

let files = 0;
/** Writes a kubeconfig whose one cluster has these fields (top-level keys replaced by `override`); returns its path. */
function kubeconfig(cluster: Record<string, unknown>, override: Record<string, string> = {}): string {
  const path = join(dir, `kubeconfig-${files++}`);
  const doc: Record<string, string> = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: `[{ name: c, cluster: ${JSON.stringify(cluster)} }]`,
    users: '[{ name: u, user: { token: t } }]',
    contexts: '[{ name: x, context: { cluster: c, user: u } }]',
    'current-context': 'x',
    ...override,
  };
  writeFileSync(path, Object.entries(doc).map(([k, v]) => `${k}: ${v}`).join('\n'));
  return path;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Starts an informer on Services with `src`; returns what it delivered and whether it listed. */
function watchServices(src: { kubeconfig: string; master?: string }): { events: string[]; synced: () => boolean } {
  const events: string[] = [];
  let synced = false;
  const name = (o: unknown) => (o as { metadata: { name: string } }).metadata.name;
  const inf = new Informer(loadKubeConfig({ master: '', ...src }), { what: 'services', path: '/api/v1/services', backoffMs: { first: 20, max: 100 } }, {
    upsert: (o) => events.push(name(o)),
    delete: () => undefined,
  }, log);
  afterThisTest(() => inf.stop());
  void inf.synced.then(() => (synced = true));
  inf.start();
  return { events, synced: () => synced };
}

/** A TLS front for `port` with a self-signed certificate for 127.0.0.1; returns its port and the certificate. */
async function tlsFront(port: number): Promise<{ port: number; cert: string }> {
  const key = join(dir, 'tls.key');
  const crt = join(dir, 'tls.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=kpr-test', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', crt], { stdio: 'ignore' });
  const cert = readFileSync(crt, 'utf8');
  const open = new Set<Socket>();
  const server = createTlsServer({ key: readFileSync(key), cert }, (sock) => {
    const upstream = connect(port, '127.0.0.1');
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    sock.pipe(upstream).pipe(sock);
    sock.on('error', () => upstream.destroy());
    upstream.on('error', () => sock.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // Closed with its kept-alive client connections, which would otherwise hold close() for seconds.
  afterThisTest(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    for (const s of open) s.destroy();
  }));
  return { port: (server.address() as AddressInfo).port, cert };
}

describe('loadKubeConfig', () => {
  it('talks plain HTTP to an http:// server, as client-go does (kubectl proxy), without insecure-skip-tls-verify', async () => {
    const api = await testServer({ objects: [svc('a')] });
    const r = watchServices({ kubeconfig: kubeconfig({ server: api.url }) });
    await waitFor('the list', r.synced);
    api.apply(svc('b'));
    await waitFor('the watch', () => r.events.includes('b'));
    expect(r.events).toEqual(['a', 'b']);
  });

  it('--master http://... replaces the kubeconfig\'s https server', async () => {
    const api = await testServer({ objects: [svc('a')] });
    const r = watchServices({ kubeconfig: kubeconfig({ server: 'https://192.0.2.1:6443' }), master: api.url });
    await waitFor('the list', r.synced);
    expect(r.events).toEqual(['a']);
  });

  it('still verifies an https server: refused without its CA, accepted with it', async () => {
    const api = await testServer({ objects: [svc('a')] });
    const front = await tlsFront(api.port);
    const server = `https://127.0.0.1:${front.port}`;
    const untrusted = watchServices({ kubeconfig: kubeconfig({ server }) });
    const trusted = watchServices({ kubeconfig: kubeconfig({ server, 'certificate-authority-data': Buffer.from(front.cert).toString('base64') }) });
    await waitFor('the list with the CA', trusted.synced);
    expect(trusted.events).toEqual(['a']);
    await new Promise((res) => setTimeout(res, 200));
    expect(untrusted.synced()).toBe(false);
  });

  describe('refuses at once what can never work, naming the fix', () => {
    const errorOf = (src: { kubeconfig: string; master?: string }): string => {
      try {
        loadKubeConfig({ master: '', ...src });
      } catch (err) {
        return isKubeError(err, 'INVALID_CONFIG') ? errorMessage(err) : `not a KubeError INVALID_CONFIG: ${String(err)}`;
      }
      return 'no error';
    };

    it.each([
      ['a kubeconfig that does not exist', () => ({ kubeconfig: join(dir, 'missing') }),
        /^--kubeconfig \(clientConnection\.kubeconfig\) .*missing: cannot read it.*ENOENT/],
      ['a kubeconfig that is not one', () => ({ kubeconfig: kubeconfig({}, { clusters: '[{ name: c }]' }) }),
        /^--kubeconfig \(clientConnection\.kubeconfig\) .*: not a valid kubeconfig: .*clusters\[0\]\.cluster is missing/],
      ['a current-context naming no context', () => ({ kubeconfig: kubeconfig({ server: 'https://h' }, { 'current-context': 'nope' }) }),
        /current-context "nope" names no context with a cluster: set current-context/],
      ['a server that is no URL', () => ({ kubeconfig: kubeconfig({ server: '10.0.0.1:6443' }) }),
        /cluster "c": server "10\.0\.0\.1:6443" is not an http:\/\/ or https:\/\/ URL \(e\.g\. https:\/\/10\.0\.0\.1:6443\)/],
      ['a server without a scheme', () => ({ kubeconfig: kubeconfig({ server: 'apiserver:6443' }) }),
        /server "apiserver:6443" is not an http:\/\/ or https:\/\/ URL/],
      ['a --master that is no URL', () => ({ kubeconfig: kubeconfig({ server: 'https://h' }), master: 'ftp://h' }),
        /^--master "ftp:\/\/h" is not an http:\/\/ or https:\/\/ URL/],
      ['a CA file that does not exist', () => ({ kubeconfig: kubeconfig({ server: 'https://h', 'certificate-authority': '/nonexistent/ca.crt' }) }),
        /cluster "c": certificate-authority \/nonexistent\/ca\.crt: cannot read it.*ENOENT/],
      ['CA data that is no certificate', () => ({ kubeconfig: kubeconfig({ server: 'https://h', 'certificate-authority-data': Buffer.from('junk').toString('base64') }) }),
        /cluster "c": certificate-authority-data is not a PEM certificate/],
    ])('%s', (_, src, message) => {
      expect(errorOf(src())).toMatch(message);
    });

    it('no kubeconfig outside a pod: names the environment it needs and --kubeconfig', () => {
      vi.stubEnv('KUBERNETES_SERVICE_HOST', '');
      vi.stubEnv('KUBERNETES_SERVICE_PORT', '');
      expect(errorOf({ kubeconfig: '' })).toBe(
        'no --kubeconfig (clientConnection.kubeconfig) and KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset: '
        + 'run in a pod (or set them, as the kpr-api-server ConfigMap does), or give a kubeconfig');
    });

    it('no kubeconfig and no service account token: names the token it looked for', () => {
      vi.stubEnv('KUBERNETES_SERVICE_HOST', '10.0.0.1');
      vi.stubEnv('KUBERNETES_SERVICE_PORT', '6443');
      expect(errorOf({ kubeconfig: '' })).toMatch(
        /^no --kubeconfig \(clientConnection\.kubeconfig\) and no service account token at \/var\/run\/secrets\/kubernetes\.io\/serviceaccount\/token: .*automountServiceAccountToken/);
    });
  });
});
