// ADD and DEL program the node and the pod in-process over rtnetlink (cni/rtnetlink.ts),
// the pod through a socket opened inside its netns (kpr-sys.node's setns), and take
// their locks with flock(2) in-process (lib/lock.ts): run under strace, the plugin
// executes nothing. An `ip` wrapper first in PATH logs the netns each run is in, for
// the fallbacks: without netlink.node beside the executable, node and pod go through
// `ip`; without kpr-sys.node, the pod does; both with the same result.
import { chmodSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueToken, type Netns } from '../lab/netns.ts';
import { buildExists, createLab, ipj, KPR_CNI, kprConf, PINNED_BIN, runPlugin, type Invocation, type Lab } from '../test/support/cni-kernel.ts';

const STRACE = '/usr/bin/strace';

describe('the node and pod sides of ADD and DEL', () => {
  let lab: Lab;
  let dir: string;
  let log: string;
  let bare: string;
  let noSys: string;
  let ipamMtu: string;
  let ipamBadGw: string;
  beforeAll(async () => {
    if (!buildExists()) throw new Error(`${KPR_CNI} missing: run "npm run build" first`);
    lab = await createLab();
    dir = mkdtempSync(join(tmpdir(), 'kpr-cni-iplog-'));
    log = join(dir, 'log');
    writeFileSync(log, '');
    writeFileSync(join(dir, 'ip'), `#!/bin/sh\necho "$(readlink /proc/self/ns/net) $*" >> '${log}'\nexec /usr/sbin/ip "$@"\n`);
    chmodSync(join(dir, 'ip'), 0o755);
    // The executable alone, without the addons beside it; and with netlink.node only.
    bare = join(dir, 'bare', 'kpr-cni');
    mkdirSync(join(dir, 'bare'));
    linkSync(KPR_CNI, bare);
    noSys = join(dir, 'nosys', 'kpr-cni');
    mkdirSync(join(dir, 'nosys'));
    linkSync(KPR_CNI, noSys);
    linkSync(join(PINNED_BIN, 'netlink.node'), join(dir, 'nosys', 'netlink.node'));
    // A delegated IPAM whose route carries an MTU (kpr-ipam's routes have none), in
    // shell builtins only: it executes nothing itself.
    mkdirSync(join(dir, 'ipam'));
    ipamMtu = fakeIpam('kpt-ipam-mtu', [{ dst: '10.96.0.0/12', mtu: 1400 }, { dst: '0.0.0.0/0' }]);
    ipamBadGw = fakeIpam('kpt-ipam-badgw', [{ dst: '10.96.0.0/12', gw: '10.99.0.1' }]);
  });

  /** A delegated IPAM plugin giving 10.250.0.5/24 and these routes. */
  function fakeIpam(type: string, routes: unknown[]): string {
    const path = join(dir, 'ipam', type);
    const result = { cniVersion: '1.1.0', ips: [{ address: '10.250.0.5/24', gateway: '10.250.0.1' }], routes };
    writeFileSync(path, `#!/bin/sh\nwhile read -r _; do :; done\n[ "$CNI_COMMAND" = ADD ] && printf '%s' '${JSON.stringify(result)}'\nexit 0\n`);
    chmodSync(path, 0o755);
    return path;
  }
  afterAll(async () => {
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const netnsOf = (ns: Netns) => `net:[${statSync(ns.path).ino}]`;
  // The plugin's runs of ip (the wrapper is also the `ip netns exec` that starts the plugin).
  const pluginIpRuns = () => readFileSync(log, 'utf8').split('\n').filter((l) => l && !l.includes(' netns exec '));
  const ipRunsIn = (ns: Netns) => pluginIpRuns().filter((l) => l.startsWith(`${netnsOf(ns)} `));

  /** What the plugin executed (paths, in order), from strace's log of the whole call. */
  function executed(traceLog: string, binary: string): string[] {
    const paths = [...readFileSync(traceLog, 'utf8').matchAll(/execve(?:at)?\((?:[^,"]+, )?"([^"]+)"/g)].map((m) => m[1] ?? '');
    // strace runs `ip netns exec`, which execs the plugin: what follows is the plugin's.
    const at = paths.indexOf(binary);
    expect(at, paths.join(' ')).toBeGreaterThan(0);
    return paths.slice(at + 1);
  }

  interface Call { binary: string; mode: 'bridge' | 'routed'; conf?: Record<string, unknown>; cniPath?: string; check?: (pod: Netns) => Promise<void> }

  /** ADD (checked by `check` in the pod), then DEL; returns what each executed under strace. */
  async function addDel(c: Call): Promise<{ add: string[]; del: string[] }> {
    const pod = await lab.set.create(`p${uniqueToken()}`);
    const name = `kpt-nl-${c.mode}`;
    const inv: Omit<Invocation, 'command'> = {
      containerId: `c${uniqueToken()}`, netns: pod.path, ifName: 'eth0', env: { PATH: `${dir}:/usr/sbin:/usr/bin:/sbin:/bin` },
      ...(c.cniPath ? { path: c.cniPath } : {}),
    };
    // No mtu in the config: the uplink's is read too.
    const conf = JSON.stringify(c.conf ?? kprConf(lab, { mode: c.mode, name }));
    const trace = (verb: string) => [STRACE, '-f', '-qq', '-e', 'trace=execve,execveat', '-o', join(dir, `${verb}.strace`)];
    const added = await runPlugin(lab.node, c.binary, { ...inv, command: 'ADD', under: trace('add') }, conf);
    expect(added.code, added.stdout + added.stderr).toBe(0);
    const hostVeth = (added.json?.interfaces as Array<{ name: string }>).find((i) => i.name.startsWith('kpr') && i.name !== 'kpr0')?.name ?? '';
    const [link] = await ipj(lab.node, ['-d', 'link', 'show', 'dev', hostVeth]);
    expect(link).toMatchObject({ ifalias: `kpr-cni/${JSON.parse(conf).name}/${inv.containerId}/eth0`, mtu: 1500, operstate: 'UP' });
    if (c.mode === 'bridge') expect(link).toMatchObject({ master: 'kpr0', linkinfo: { info_slave_data: { hairpin: true } } });
    await c.check?.(pod);
    const deleted = await runPlugin(lab.node, c.binary, { ...inv, command: 'DEL', under: trace('del') }, conf);
    expect(deleted.code, deleted.stdout + deleted.stderr).toBe(0);
    expect(await ipj(lab.node, ['link', 'show', 'type', 'veth'])).toHaveLength(1);
    return { add: executed(join(dir, 'add.strace'), c.binary), del: executed(join(dir, 'del.strace'), c.binary) };
  }

  /** The pod end as a dual-stack ADD leaves it: addresses, routes, accept_dad (traffic: traffic.kernel.test.ts). */
  const dualStackPod = (mode: 'bridge' | 'routed') => async (pod: Netns) => {
    const [eth0] = await ipj(pod, ['addr', 'show', 'dev', 'eth0']);
    const plen = mode === 'bridge' ? [24, 64] : [32, 128];
    expect(eth0).toMatchObject({ operstate: 'UP', mtu: 1500 });
    const addrs = (eth0?.addr_info as Array<Record<string, unknown>>).filter((a) => a.scope === 'global');
    expect(addrs).toEqual([
      expect.objectContaining({ family: 'inet', local: expect.stringMatching(/^10\.244\.1\./), prefixlen: plen[0] }),
      expect.objectContaining({ family: 'inet6', local: expect.stringMatching(/^fd00:244:1::/), prefixlen: plen[1], nodad: true }),
    ]);
    const gw4 = mode === 'bridge' ? '10.244.1.1' : '169.254.1.1';
    const gw6 = mode === 'bridge' ? 'fd00:244:1::1' : 'fe80::1';
    const defaults = async (family: string) => (await ipj(pod, [family, 'route', 'show', 'default'])).map(({ dst, gateway, dev, flags }) => ({ dst, gateway, dev, flags }));
    expect(await defaults('-4')).toEqual([{ dst: 'default', gateway: gw4, dev: 'eth0', flags: mode === 'routed' ? ['onlink'] : [] }]);
    expect(await defaults('-6')).toEqual([{ dst: 'default', gateway: gw6, dev: 'eth0', flags: [] }]);
    expect((await pod.exec('cat', ['/proc/sys/net/ipv6/conf/eth0/accept_dad'])).stdout.trim()).toBe('0');
  };

  it.each(['bridge', 'routed'] as const)('%s, dual-stack: ADD and DEL execute nothing, and the pod is configured', async (mode) => {
    writeFileSync(log, '');
    const ran = await addDel({ binary: KPR_CNI, mode, check: dualStackPod(mode) });
    // No ip, nsenter, sh, flock (and no nft: the config has no ipMasq).
    expect(ran).toEqual({ add: [], del: [] });
    expect(pluginIpRuns()).toEqual([]);
  });

  it("gives a pod route an IPAM route's MTU (RTAX_MTU), still executing only the delegated IPAM", async () => {
    const conf = { cniVersion: '1.1.0', name: 'kpt-nl-mtu', type: 'kpr-cni', mode: 'bridge', bridge: 'kpr0', ipam: { type: basename(ipamMtu) } };
    const ran = await addDel({
      binary: KPR_CNI, mode: 'bridge', conf, cniPath: join(dir, 'ipam'),
      check: async (pod) => {
        const [r] = await ipj(pod, ['route', 'show', '10.96.0.0/12']);
        expect(r).toMatchObject({ dst: '10.96.0.0/12', gateway: '10.250.0.1', dev: 'eth0', metrics: [{ mtu: 1400 }] });
        const [d] = await ipj(pod, ['route', 'show', 'default']);
        expect(d).toMatchObject({ gateway: '10.250.0.1', dev: 'eth0' });
        expect(d?.metrics).toBeUndefined();
      },
    });
    expect(ran).toEqual({ add: [ipamMtu], del: [ipamMtu] });
  });

  it('a pod route the kernel refuses fails the ADD naming it as its ip command, and the ADD undoes itself', async () => {
    const pod = await lab.set.create(`p${uniqueToken()}`);
    const conf = { cniVersion: '1.1.0', name: 'kpt-nl-badgw', type: 'kpr-cni', mode: 'bridge', bridge: 'kpr0', mtu: 1500, ipam: { type: basename(ipamBadGw) } };
    const inv = { containerId: `c${uniqueToken()}`, netns: pod.path, ifName: 'eth0', path: join(dir, 'ipam') };
    const added = await runPlugin(lab.node, KPR_CNI, { ...inv, command: 'ADD' }, JSON.stringify(conf));
    expect(added.json).toMatchObject({ code: 100, msg: expect.stringMatching(/"ip route add 10\.96\.0\.0\/12 via 10\.99\.0\.1 dev eth0" failed: RTNETLINK answers: .*unreachable/i) });
    expect(await ipj(lab.node, ['link', 'show', 'type', 'veth'])).toHaveLength(1);
    expect(await ipj(pod, ['link', 'show', 'type', 'veth'])).toEqual([]);
  });

  it('without netlink.node beside it, programs the node and the pod through ip as before', async () => {
    writeFileSync(log, '');
    let inPod: string[] = [];
    await addDel({ binary: bare, mode: 'bridge', check: async (pod) => { await dualStackPod('bridge')(pod); inPod = ipRunsIn(pod); } });
    expect(ipRunsIn(lab.node).some((l) => l.includes('-batch'))).toBe(true);
    expect(inPod.some((l) => l.includes('-batch'))).toBe(true);
  });

  it.each(['bridge', 'routed'] as const)('%s: without kpr-sys.node beside it, programs the node over rtnetlink and the pod through ip as before', async (mode) => {
    writeFileSync(log, '');
    let inPod: string[] = [];
    const ran = await addDel({ binary: noSys, mode, check: async (pod) => { await dualStackPod(mode)(pod); inPod = ipRunsIn(pod); } });
    expect(ipRunsIn(lab.node)).toEqual([]);
    expect(inPod.filter((l) => l.includes('-batch'))).toHaveLength(1);
    // nsenter and a shell write accept_dad before ip runs (the wrapper's readlink aside); the locks are the flock command's.
    expect(new Set(ran.add.map((p) => basename(p)))).toEqual(new Set(['nsenter', 'sh', 'ip', 'readlink', 'flock']));
  });
});
