// A real CNI client: podman 4 (CNI backend) starts a container on a kpr-cni network
// and the container is reachable. Podman runs inside a node namespace through
// `nsenter --net` (not `ip netns exec`, which remounts /sys and breaks the OCI
// runtime's cgroups), so the plugin it execs puts the bridge and routes there; all of
// podman's config, storage and state live in a temporary directory. The image is
// imported from a tarball holding a static busybox (Debian busybox-static): no registry.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, ipFiles, KPR_CNI, linkNames, PINNED_BIN, REF_CNI_DIR, type Lab } from '../test/support/cni-kernel.ts';

const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p) && spawnSync('ldd', [p]).status !== 0);
const missing = [
  ...(spawnSync('podman', ['--version']).status === 0 ? [] : ['podman']),
  ...(spawnSync('runc', ['--version']).status === 0 ? [] : ['runc']),
  ...(BUSYBOX ? [] : ['a static busybox (busybox-static)']),
  ...(existsSync(KPR_CNI) ? [] : ['dist/bin/kpr (npm run build)']),
];
if (missing.length > 0) console.warn(`podman.kernel.test.ts skipped: missing ${missing.join(', ')}`);

/** What must not change in the host's network namespace. */
function hostNetworkSnapshot(): string {
  const parts = [['ip', '-br', 'link'], ['ip', '-br', 'addr'], ['ip', 'route', 'show', 'table', 'all'], ['ip', '-6', 'route', 'show', 'table', 'all'], ['nft', 'list', 'ruleset']];
  return parts.map((c) => spawnSync(c[0]!, c.slice(1), { encoding: 'utf8' }).stdout).join('\n---\n');
}

describe.skipIf(missing.length > 0)('podman with its CNI backend on a kpr-cni network', () => {
  let lab: Lab;
  let dir: string;
  const network = 'kpt-podnet';
  const netnsBefore = new Set<string>();
  let hostBefore = '';
  let cacheDirExisted = false;

  const podman = (args: string[]) => spawnSync('nsenter', [`--net=${lab.node.path}`, 'podman',
    '--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--tmpdir', join(dir, 'tmp'), '--storage-driver', 'vfs', ...args], {
    encoding: 'utf8', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CONTAINERS_CONF: join(dir, 'containers.conf') }, timeout: 60_000,
  });

  beforeAll(async () => {
    hostBefore = hostNetworkSnapshot();
    cacheDirExisted = existsSync('/var/lib/cni');
    for (const n of readdirSync('/run/netns')) netnsBefore.add(n);
    lab = await createLab();
    dir = mkdtempSync(join(tmpdir(), 'kpr-podman-'));
    const rootfs = join(dir, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    mkdirSync(join(rootfs, 'www'));
    copyFileSync(BUSYBOX!, join(rootfs, 'bin/busybox'));
    chmodSync(join(rootfs, 'bin/busybox'), 0o755);
    for (const applet of ['sh', 'httpd']) symlinkSync('busybox', join(rootfs, 'bin', applet));
    writeFileSync(join(rootfs, 'www/index.html'), 'hello from a kpr pod\n');
    mkdirSync(join(dir, 'net.d'));
    writeFileSync(join(dir, 'containers.conf'), [
      '[network]', 'network_backend="cni"', `cni_plugin_dirs=["${PINNED_BIN}","${REF_CNI_DIR}"]`, `network_config_dir="${join(dir, 'net.d')}"`,
      '[engine]', 'cgroup_manager="cgroupfs"', 'events_logger="file"', `events_logfile_path="${join(dir, 'events.log')}"`, '',
    ].join('\n'));
    // Podman 4.3 speaks CNI through libcni 1.1.2: spec 1.0.0 at most.
    writeFileSync(join(dir, 'net.d', `${network}.conflist`), JSON.stringify({
      cniVersion: '1.0.0', name: network,
      plugins: [{ type: 'kpr-cni', mode: 'bridge', ipMasq: true, ipam: { type: 'kpr-ipam', dataDir: lab.dataDir, ranges: [[{ subnet: '10.249.0.0/24' }]] } }],
    }));
    spawnSync('tar', ['-C', rootfs, '-cf', join(dir, 'rootfs.tar'), '.']);
    const imp = podman(['import', join(dir, 'rootfs.tar'), 'localhost/kpt-busybox:latest']);
    if (imp.status !== 0) throw new Error(`podman import: ${imp.stderr}`);
  }, 120_000);

  afterAll(async () => {
    if (lab) podman(['rm', '-f', '-t', '0', '--all']);
    // Podman's own netns files live in the host's /run/netns; remove any it left.
    for (const n of readdirSync('/run/netns')) if (!netnsBefore.has(n) && n.startsWith('netns-')) spawnSync('ip', ['netns', 'del', n]);
    for (const f of existsSync('/var/lib/cni/results') ? readdirSync('/var/lib/cni/results') : []) {
      if (f.startsWith(`${network}-`)) rmSync(join('/var/lib/cni/results', f), { force: true });
    }
    if (!cacheDirExisted) rmSync('/var/lib/cni', { recursive: true, force: true });
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('starts a container whose server the node reaches, then removes it cleanly', { timeout: 120_000 }, async () => {
    const run = podman(['run', '-d', '--name', 'kpt-web', '--runtime', 'runc', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024',
      '--network', network, 'localhost/kpt-busybox:latest', '/bin/httpd', '-f', '-p', '8080', '-h', '/www']);
    expect(run.status, run.stderr).toBe(0);
    const ip = podman(['inspect', 'kpt-web', '--format', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`]).stdout.trim();
    expect(ip).toMatch(/^10\.249\.0\.\d+$/);
    expect(ipFiles(lab, network)).toEqual([ip]);
    expect(await linkNames(lab.node)).toContain('kpr0');
    const podNetns = readdirSync('/run/netns').filter((n) => !netnsBefore.has(n) && n.startsWith('netns-'));
    expect(podNetns).toHaveLength(1);

    // (busybox 1.35's wget crashes with -T; without it a refused connection fails at once.)
    await expect.poll(() => lab.node.exec(BUSYBOX!, ['wget', '-q', '-O', '-', `http://${ip}:8080/`], { allowFailure: true }).then((r) => r.stdout),
      { timeout: 10_000, interval: 200 }).toBe('hello from a kpr pod\n');

    const rm = podman(['rm', '-f', '-t', '0', 'kpt-web']);
    expect(rm.status, rm.stderr).toBe(0);
    expect(ipFiles(lab, network)).toEqual([]);
    expect((await linkNames(lab.node)).filter((n) => /^kpr[0-9a-f]{12}$/.test(n))).toEqual([]);
    expect(readdirSync('/run/netns').filter((n) => podNetns.includes(n))).toEqual([]);
    expect(hostNetworkSnapshot()).toBe(hostBefore);
  });
});
