import { describe, expect, it } from 'vitest';
import { dispatch, parseCniArgs, type Plugin, type Request } from './skel.ts';
import type { Result } from './result.ts';
import { toCniError } from './errors.ts';
import { KprError } from '../lib/errors.ts';
import { LockTimeoutError } from '../lib/lock.ts';

const result: Result = {
  cniVersion: '',
  interfaces: [{ name: 'eth0', sandbox: '/run/netns/p' }],
  ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 0 }, { address: 'fd00::5/64', interface: 0 }],
  routes: [{ dst: '0.0.0.0/0' }],
};

function recorder(): { plugin: Plugin; calls: Request[] } {
  const calls: Request[] = [];
  const rec = (r: Request) => { calls.push(r); };
  return {
    calls,
    plugin: {
      add: async (r) => { rec(r); return result; },
      del: async (r) => rec(r), check: async (r) => rec(r), status: async (r) => rec(r), gc: async (r) => rec(r),
    },
  };
}

const addEnv = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/p', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin:/usr/lib/cni' };
const conf = (o: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: '1.0.0', name: 'net', type: 'kpr-cni', ...o });
const run = (env: Record<string, string>, stdin: string, plugin = recorder().plugin) => dispatch({ env, stdin: () => stdin }, plugin);

describe('skel dispatcher', () => {
  it('answers VERSION echoing the asked version, or its own for empty stdin', async () => {
    expect(JSON.parse((await run({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}')).stdout))
      .toEqual({ cniVersion: '0.4.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    expect(JSON.parse((await run({ CNI_COMMAND: 'VERSION' }, '')).stdout).cniVersion).toBe('1.1.0');
  });

  it('hands ADD a request built from the environment and writes the result in the config version', async () => {
    const rec = recorder();
    const out = await run({ ...addEnv, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web' }, conf({ cniVersion: '0.4.0' }), rec.plugin);
    expect(out.exitCode).toBe(0);
    expect(rec.calls[0]).toMatchObject({ command: 'ADD', containerId: 'c1', ifName: 'eth0', cniVersion: '0.4.0', networkName: 'net',
      cniPath: ['/opt/cni/bin', '/usr/lib/cni'], cniArgs: { IgnoreUnknown: '1', K8S_POD_NAME: 'web' } });
    expect(JSON.parse(out.stdout).ips).toEqual([
      { version: '4', address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 0 },
      { version: '6', address: 'fd00::5/64', interface: 0 },
    ]);
    const v1 = JSON.parse((await run(addEnv, conf())).stdout);
    expect(v1.cniVersion).toBe('1.0.0');
    expect(v1.ips[0]).not.toHaveProperty('version');
  });

  it.each([
    ['no CNI_COMMAND', {}, conf(), 4, /CNI_COMMAND/],
    ['unknown command', { ...addEnv, CNI_COMMAND: 'FOO' }, conf(), 4, /unknown CNI_COMMAND: FOO/],
    ['missing CNI_NETNS on ADD', { ...addEnv, CNI_NETNS: '' }, conf(), 4, /\[CNI_NETNS\] missing/],
    ['too long CNI_IFNAME', { ...addEnv, CNI_IFNAME: 'this-name-is-too-long' }, conf(), 4, /too long/],
    ['CNI_IFNAME with a slash', { ...addEnv, CNI_IFNAME: 'a/b' }, conf(), 4, /CNI_IFNAME/],
    ['bad container ID', { ...addEnv, CNI_CONTAINERID: '-bad id' }, conf(), 4, /CNI_CONTAINERID/],
    ['bad CNI_ARGS', { ...addEnv, CNI_ARGS: 'novalue' }, conf(), 4, /CNI_ARGS/],
    // They reach `ip -batch` lines ("#" starts a comment, quotes group words) and nft text.
    ['CNI_IFNAME with "#"', { ...addEnv, CNI_IFNAME: 'eth#0' }, conf(), 4, /invalid CNI_IFNAME: .*contains "#"/],
    ['CNI_IFNAME with a quote', { ...addEnv, CNI_IFNAME: 'eth"0' }, conf(), 4, /invalid CNI_IFNAME: .*contains """/],
    ['CNI_IFNAME with a space', { ...addEnv, CNI_IFNAME: 'eth 0' }, conf(), 4, /invalid CNI_IFNAME: .*whitespace/],
    ['CNI_IFNAME with a kernel format', { ...addEnv, CNI_IFNAME: 'eth%d' }, conf(), 4, /invalid CNI_IFNAME: .*contains "%"/],
    ['CNI_IFNAME with a newline', { ...addEnv, CNI_IFNAME: 'eth0\nx' }, conf(), 4, /invalid CNI_IFNAME/],
    ['CNI_NETNS with a space', { ...addEnv, CNI_NETNS: '/run/netns/a b' }, conf(), 4, /invalid CNI_NETNS/],
    ['CNI_NETNS with "#"', { ...addEnv, CNI_NETNS: '/run/netns/a#b' }, conf(), 4, /invalid CNI_NETNS/],
    ['CNI_NETNS with a quote', { ...addEnv, CNI_NETNS: "/run/netns/a'b" }, conf(), 4, /invalid CNI_NETNS/],
    ['relative CNI_NETNS (ip would take "1" for pid 1)', { ...addEnv, CNI_NETNS: '1' }, conf(), 4, /invalid CNI_NETNS: "1" is not an absolute path/],
    ['CHECK with a bad CNI_NETNS', { ...addEnv, CNI_COMMAND: 'CHECK', CNI_NETNS: '/run/netns/a"b' }, conf(), 4, /invalid CNI_NETNS/],
    ['a 300-character container ID', { ...addEnv, CNI_CONTAINERID: 'a'.repeat(300) }, conf(), 4, /invalid CNI_CONTAINERID: container ID is too long \(300 characters, at most 64\)/],
    ['a 65-character container ID', { ...addEnv, CNI_CONTAINERID: 'a'.repeat(65) }, conf(), 4, /at most 64/],
    ['truncated JSON', addEnv, conf().slice(0, 20), 6, /decode/],
    ['unsupported version', addEnv, conf({ cniVersion: '9.9.9' }), 1, /incompatible/],
    ['no version (0.1.0)', addEnv, JSON.stringify({ name: 'n', type: 'kpr-cni' }), 1, /incompatible/],
    ['no name', addEnv, conf({ name: undefined }), 7, /missing network name/],
    ['name with a slash', addEnv, conf({ name: '../x' }), 7, /invalid network name/],
    ['name longer than a directory name', addEnv, conf({ name: 'n'.repeat(256) }), 7, /network name is too long/],
    ['CHECK on 0.3.1', { ...addEnv, CNI_COMMAND: 'CHECK' }, conf({ cniVersion: '0.3.1' }), 1, /does not allow CHECK/],
    ['GC on 1.0.0', { CNI_COMMAND: 'GC', CNI_PATH: '/x' }, conf(), 1, /does not allow GC/],
    ['STATUS on 1.0.0', { CNI_COMMAND: 'STATUS' }, conf(), 1, /does not allow STATUS/],
    ['GC without CNI_PATH', { CNI_COMMAND: 'GC' }, conf({ cniVersion: '1.1.0' }), 4, /CNI_PATH/],
  ])('refuses %s with code %i', async (_what, env, stdin, code, msg) => {
    const rec = recorder();
    const out = await run(env as Record<string, string>, stdin, rec.plugin);
    expect(out.exitCode).toBe(1);
    const err = JSON.parse(out.stdout);
    expect(err.code).toBe(code);
    expect(`${err.msg} ${err.details ?? ''}`).toMatch(msg);
    expect(err.cniVersion).toBeTypeOf('string');
    expect(rec.calls).toHaveLength(0);
  });

  it('accepts a 64-hex container ID and any interface name the kernel and ip -batch take', async () => {
    for (const env of [{ CNI_CONTAINERID: 'f'.repeat(64) }, { CNI_IFNAME: 'net1.100@x-_' }, { CNI_NETNS: '/proc/1234/ns/net' }]) {
      expect((await run({ ...addEnv, ...env }, conf())).exitCode, JSON.stringify(env)).toBe(0);
    }
    // DEL does not use CNI_NETNS: a runtime's odd value there must not keep the address.
    expect((await run({ ...addEnv, CNI_COMMAND: 'DEL', CNI_NETNS: 'not a path' }, conf())).exitCode).toBe(0);
    // Nor does the bound on new IDs stop the DEL of what an older kpr attached with a longer one.
    expect((await run({ ...addEnv, CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'a'.repeat(100) }, conf())).exitCode).toBe(0);
  });

  it('maps a lock timeout to "try again later" (11) and a lock that cannot be taken to an I/O failure (5)', () => {
    expect(toCniError(new LockTimeoutError('/run/kpr-cni/masq.lock', 10_000))).toMatchObject({ code: 11, message: expect.stringContaining('masq.lock') });
    expect(toCniError(new KprError('LOCK', 'cannot open the lock file', { object: '/x/lock' })).code).toBe(5);
  });

  it('echoes the config version in errors and lists supported versions in details', async () => {
    const err = JSON.parse((await run(addEnv, conf({ cniVersion: '9.9.9' }))).stdout);
    expect(err).toMatchObject({ cniVersion: '9.9.9', code: 1 });
    expect(err.details).toContain('1.1.0');
  });

  it('allows DEL without CNI_NETNS and STATUS/GC without container variables', async () => {
    const rec = recorder();
    expect((await run({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0' }, conf(), rec.plugin)).exitCode).toBe(0);
    expect((await run({ CNI_COMMAND: 'STATUS' }, conf({ cniVersion: '1.1.0' }), rec.plugin)).exitCode).toBe(0);
    expect((await run({ CNI_COMMAND: 'GC', CNI_PATH: '/x' }, conf({ cniVersion: '1.1.0' }), rec.plugin)).stdout).toBe('');
    expect(rec.calls.map((c) => c.command)).toEqual(['DEL', 'STATUS', 'GC']);
  });

  it('turns a thrown error into the error object with code 999 unless it has one', async () => {
    const plugin = { ...recorder().plugin, add: async () => { throw new Error('boom'); } };
    const out = await run(addEnv, conf(), plugin);
    expect(JSON.parse(out.stdout)).toEqual({ cniVersion: '1.0.0', code: 999, msg: 'boom' });
  });

  it('parses CNI_ARGS pairs, values may contain "="', () => {
    expect(parseCniArgs('IgnoreUnknown=1;IP=10.0.0.1;X=a=b;')).toEqual({ IgnoreUnknown: '1', IP: '10.0.0.1', X: 'a=b' });
  });
});
