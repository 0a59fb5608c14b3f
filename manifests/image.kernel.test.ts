// The image `npm run image` builds, run as the DaemonSet's pod runs on a node: the
// install-cni init container with its command from kpr.yaml against temporary host
// directories, then the kpr container with the DaemonSet's command line, mounts and
// config file, privileged in a node namespace (hostNetwork), fed by the embedded API
// server: the flow table passes from the image. Also the image's iptables wrapper,
// which picks the backend the node already uses.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, type ProxyLauncher } from '../lab/cluster.ts';
import { FLOWS } from '../lab/flow-table.ts';
import { NamespaceSet } from '../lab/netns.ts';
import { runFlows } from '../lab/observe.ts';
import { KprProcess } from '../lab/kpr-process.ts';
import { CLUSTER_CIDRS, NODE_NAME } from '../lab/topology.ts';
import { clientLoops, svcChain, upstreamIptables, UPSTREAM } from '../test/support/upstream-iptables.ts';
import { daemonSetPod, hostDirs, imageRef, PODMAN_RUN, podmanRemove, podmanRun } from '../test/support/daemonset-pod.ts';

const IMAGE = imageRef();
const pod = daemonSetPod();
const KPR = new URL('../dist/bin/kpr', import.meta.url).pathname;
const run = (cmd: string, args: string[], timeout = 60_000) => spawnSync(cmd, args, { encoding: 'utf8', timeout });
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'kpr-image-'));
  dirs.push(d);
  return d;
}
const containers: string[] = [];
function containerName(role: string): string {
  const name = `kpt-${process.pid}-${role}-${containers.length}`;
  containers.push(name);
  return name;
}

beforeAll(() => {
  // The same build as `npm run image`, on the kpr already built (the suite's build).
  const built = run('bash', ['scripts/image.sh', '--no-build'], 600_000);
  if (built.status !== 0) throw new Error(`scripts/image.sh failed:\n${built.stderr}`);
}, 620_000);

afterAll(() => {
  for (const c of containers) podmanRemove(c);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the DaemonSet pod from the image', () => {
  it('names the image that npm run image tags', () => {
    expect(pod.initContainer('install-cni').image).toBe(IMAGE);
    expect(pod.container('kpr').image).toBe(IMAGE);
    expect(run('podman', ['image', 'exists', IMAGE]).status).toBe(0);
  });

  it('install-cni puts kpr-cni, kpr-ipam, the two addons and the conflist in place atomically, with their modes', async () => {
    const dir = tempDir();
    const host = hostDirs(dir, pod);
    const bin = host.get('cni-bin') ?? '';
    const netd = host.get('cni-net-d') ?? '';
    // An older plugin is already there: it is replaced, never rewritten in place.
    writeFileSync(join(bin, 'kpr-cni'), 'old plugin', { mode: 0o755 });
    const events: string[] = [];
    const watchers = [bin, netd].map((d) => watch(d, (type, file) => events.push(`${type} ${String(file)}`)));
    const argv = podmanRun(pod.initContainer('install-cni'), { image: IMAGE, configMap: pod.configMap, hostDirs: host, dir, name: containerName('install-cni') });
    const code = await new Promise<number | null>((resolve) => {
      const p = spawn(argv[0] ?? '', argv.slice(1), { stdio: 'ignore' });
      p.once('exit', resolve);
    });
    await new Promise((r) => setTimeout(r, 100));
    for (const w of watchers) w.close();
    expect(code).toBe(0);

    expect(readdirSync(bin).sort()).toEqual(['kpr-cni', 'kpr-ipam', 'kpr-sys.node', 'netlink.node']);
    for (const addon of ['netlink.node', 'kpr-sys.node']) expect(sha256(join(bin, addon)), addon).toBe(sha256(join(KPR, '..', addon)));
    expect(readdirSync(netd)).toEqual(['10-kpr.conflist']);
    const cni = statSync(join(bin, 'kpr-cni'));
    expect(cni.mode & 0o7777).toBe(0o755);
    expect(statSync(join(bin, 'kpr-ipam')).ino).toBe(cni.ino);
    expect(sha256(join(bin, 'kpr-cni'))).toBe(sha256(KPR));
    expect(readFileSync(join(netd, '10-kpr.conflist'), 'utf8')).toBe(pod.configMap['10-kpr.conflist']);
    expect(statSync(join(netd, '10-kpr.conflist')).mode & 0o7777).toBe(0o644);
    // Final names only ever appear by rename: no write ("change") to them while copying.
    const finals = ['kpr-cni', 'kpr-ipam', 'netlink.node', 'kpr-sys.node', '10-kpr.conflist'];
    expect(events.filter((e) => finals.some((f) => e === `change ${f}`))).toEqual([]);
    expect(events.filter((e) => finals.some((f) => e === `rename ${f}`)).length).toBeGreaterThanOrEqual(5);
    // The installed plugin answers as kpr-cni, and kpr-ipam as the IPAM plugin.
    for (const plugin of ['kpr-cni', 'kpr-ipam']) {
      const version = spawnSync(join(bin, plugin), [], { encoding: 'utf8', input: '{"cniVersion":"1.0.0"}', env: { CNI_COMMAND: 'VERSION' }, timeout: 10_000 });
      expect(JSON.parse(version.stdout), plugin).toMatchObject({ cniVersion: '1.0.0', supportedVersions: expect.arrayContaining(['1.0.0', '1.1.0']) });
    }
  }, 120_000);
});

/** The DaemonSet's kpr container from the image, as a cluster's proxy. */
function kprContainer(mode: 'iptables' | 'nftables', host: Map<string, string>, dir: string, name: string): ProxyLauncher {
  return ({ node, kubeconfig }) => {
    // The operator's edits (the values marked CHANGE, the mode) and the API server
    // this test runs, through the file's own kubeconfig field.
    const conf = (pod.configMap['config.conf'] ?? '')
      .replace(/^mode: .*$/m, `mode: ${mode}`)
      .replace(/^clusterCIDR: .*$/m, `clusterCIDR: ${CLUSTER_CIDRS.join(',')}`)
      .replace(/kubeconfig: ""/, 'kubeconfig: /var/lib/kpr/kubeconfig')
      // The flow tests follow changes quickly.
      .replace(/minSyncPeriod: 1s/g, 'minSyncPeriod: 50ms');
    const argv = podmanRun(pod.container('kpr'), {
      image: IMAGE, configMap: { ...pod.configMap, 'config.conf': conf, kubeconfig }, hostDirs: host, dir,
      env: { NODE_NAME }, netns: node, name,
    });
    podmanRemove(name);
    return new KprProcess(node, [], () => argv);
  };
}

describe.each(['iptables', 'nftables'] as const)('the kpr container in %s mode, in a node namespace', (MODE) => {
  let c: Cluster;
  let dir: string;
  let host: Map<string, string>;
  const name = containerName(`kpr-${MODE}`);

  beforeAll(async () => {
    dir = tempDir();
    host = hostDirs(dir, pod);
    c = await Cluster.create(MODE, [], { launch: kprContainer(MODE, host, dir, name) });
  }, 120_000);
  afterAll(async () => {
    podmanRemove(name);
    await c?.destroy();
  }, 60_000);

  it('passes the flow table', async () => {
    expect(await runFlows(c.topo, FLOWS, MODE)).toEqual([]);
  });

  it('the kpr-network container writes the node file into the host directory kpr-cni and kpr-ipam read', async () => {
    // The DaemonSet's container, given the test's kubeconfig (in a cluster: its service account).
    const spec = pod.container('kpr-network');
    const withKubeconfig = {
      ...spec,
      command: [...(spec.command ?? []), '--kubeconfig=/var/lib/kpr/kubeconfig', '--healthz-bind-address=', '--metrics-bind-address='],
      volumeMounts: [...(spec.volumeMounts ?? []), { name: 'kpr-config', mountPath: '/var/lib/kpr', readOnly: true }],
    };
    const inNode = readFileSync(join(c.dir, 'kubeconfig'), 'utf8').replace(/server: .*/, `server: ${c.proxyArgs.find((a) => a.startsWith('--master='))?.slice(9) ?? ''}`);
    const netName = containerName(`kpr-network-${MODE}`);
    const argv = podmanRun(withKubeconfig, { image: IMAGE, configMap: { kubeconfig: inNode }, hostDirs: host, dir, env: { NODE_NAME }, netns: c.topo.node, name: netName });
    const agent = new KprProcess(c.topo.node, [], () => argv);
    try {
      agent.start();
      await agent.waitForLog((l) => l.msg === 'reconciled', 60_000, true);
      const file = join(host.get('run-kpr') ?? '', 'node.json');
      expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], mtu: expect.any(Number) });
    } finally {
      podmanRemove(netName);
      await agent.kill();
      await c.topo.node.exec(KPR, ['network', '--cleanup', `--node-file=${join(host.get('run-kpr') ?? '', 'node.json')}`], { allowFailure: true });
    }
  }, 120_000);

  it.runIf(MODE === 'iptables')('programs the iptables backend the node uses (nft on a node with no rules), never the other', async () => {
    const nft = (await c.topo.node.exec('iptables-nft-save', ['-t', 'nat'])).stdout;
    const legacy = (await c.topo.node.exec('iptables-legacy-save', ['-t', 'nat'], { allowFailure: true })).stdout;
    expect(nft).toContain(':KUBE-SERVICES');
    expect(legacy).not.toContain('KUBE-');
  });
});

describe('moving in from kube-proxy on an iptables-legacy node, from the image', () => {
  let c: Cluster;
  let loops: ReturnType<typeof clientLoops> | undefined;
  const name = containerName('kpr-legacy');

  beforeAll(async () => {
    const dir = tempDir();
    c = await Cluster.create('iptables', [], {
      launch: kprContainer('iptables', hostDirs(dir, pod), dir, name),
      // kube-proxy ran with iptables-legacy: its rules and kubelet's hint are there.
      beforeProxy: async (topo) => {
        await topo.node.exec('iptables-legacy-restore', [], { input: upstreamIptables(UPSTREAM, '10.244.0.0/16') });
        loops = clientLoops(topo);
        while (loops.probes < 30) await new Promise((r) => setTimeout(r, 20));
      },
    });
    await new Promise((r) => setTimeout(r, 1500));
    await loops?.stop();
  }, 120_000);
  afterAll(async () => {
    await loops?.stop();
    podmanRemove(name);
    await c?.destroy();
  }, 60_000);

  it('adopts kube-proxy\'s legacy chains in place, with no refused or dropped connection, and writes nothing to nft', async () => {
    expect(loops?.failures).toEqual([]);
    const legacy = (await c.topo.node.exec('iptables-legacy-save', ['-t', 'nat'])).stdout;
    for (const s of UPSTREAM) expect(legacy).toContain(`:${svcChain(s)} `);
    // A Service kube-proxy never saw: kpr programmed it, in legacy too.
    expect(legacy).toContain('"flows/lb:p loadbalancer IP"');
    expect((await c.topo.node.exec('iptables-nft-save', [])).stdout).not.toContain('KUBE-');
    expect(await runFlows(c.topo, FLOWS.filter((f) => f.family === 4), 'iptables')).toEqual([]);
  });
});

describe("the image's iptables wrapper picks the node's backend", () => {
  const set = new NamespaceSet();
  afterAll(() => set.destroyAll());

  /** What `iptables-save` in the image says it uses in a namespace prepared by `setup`. */
  async function chosen(setup: string[][], extra: string[] = []): Promise<string> {
    const ns = await set.create('ipt');
    for (const cmd of setup) await ns.exec(cmd[0] ?? '', cmd.slice(1));
    const name = containerName('wrapper');
    const out = run('podman', [...PODMAN_RUN, ...extra, '--name', name, '--privileged',
      '--network', `ns:${ns.path}`, '--entrypoint', '/usr/sbin/iptables-save', IMAGE, '-t', 'filter']);
    expect(out.status, out.stderr).toBe(0);
    return /using iptables-(\w+)/.exec(out.stderr)?.[1] ?? `no choice in: ${out.stderr}`;
  }

  it('kubelet\'s hint chain in legacy, even with more nft rules', async () => {
    expect(await chosen([
      ['iptables-legacy', '-t', 'mangle', '-N', 'KUBE-IPTABLES-HINT'],
      ['iptables-nft', '-A', 'INPUT', '-j', 'ACCEPT'], ['iptables-nft', '-A', 'OUTPUT', '-j', 'ACCEPT'],
    ])).toBe('legacy');
  });
  it('kubelet\'s hint chain in nft', async () => {
    expect(await chosen([['iptables-nft', '-t', 'mangle', '-N', 'KUBE-IPTABLES-HINT']])).toBe('nft');
  });
  it('no hint: the backend holding more rules', async () => {
    expect(await chosen([['iptables-legacy', '-A', 'INPUT', '-j', 'ACCEPT'], ['ip6tables-legacy', '-A', 'INPUT', '-j', 'ACCEPT']])).toBe('legacy');
  });
  it('nothing anywhere: nft', async () => {
    expect(await chosen([])).toBe('nft');
  });
  it('on a read-only root filesystem too (it cannot relink, and still runs the right backend)', async () => {
    expect(await chosen([['iptables-legacy', '-t', 'mangle', '-N', 'KUBE-IPTABLES-HINT']], ['--read-only'])).toBe('legacy');
  });
});

it('the OCI archive under dist/ holds the image under its reference (what podman load and ctr import name it)', () => {
  const archive = `dist/kpr-image-${IMAGE.split(':').at(-1) ?? ''}.oci.tar`;
  expect(existsSync(archive)).toBe(true);
  const index = run('tar', ['-xOf', archive, 'index.json']);
  expect(JSON.parse(index.stdout)).toMatchObject({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', annotations: { 'org.opencontainers.image.ref.name': IMAGE } }],
  });
});
