// Moving in from flannel (manifests/README.md, "Coming from flannel"): a node namespace
// holding what flannel leaves on a node (cni0 with its gateway address, flannel.1 with
// its routes, neighbour and FDB entries, a host-gw route, its iptables rules in both
// families and its nftables tables, /run/flannel/subnet.env, its conflist, binary, pod
// cache and IPAM state), built here as flannel leaves them, is converted by
// scripts/migrate-from-flannel.sh; a pod created afterwards through the DaemonSet's
// conflist reaches a Service, a pod of the node and the outside.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../lab/cluster.ts';
import { NamespaceSet, type Netns } from '../lab/netns.ts';
import { NODE_IP } from '../lab/topology.ts';
import { runConflist, type Conflist } from '../test/support/cni-kernel.ts';
import { daemonSetPod } from '../test/support/daemonset-pod.ts';

const SCRIPT = new URL('../scripts/migrate-from-flannel.sh', import.meta.url).pathname;
const FLANNEL_NETWORK = '10.244.0.0/16';
const FLANNEL_SUBNET = '10.244.1.0/24';

const FLANNEL_IPTABLES = (cluster: string, subnet: string, multicast: string) => [
  '*nat',
  ':FLANNEL-POSTRTG - [0:0]',
  '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
  '-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
  `-A FLANNEL-POSTRTG -s ${subnet} -d ${cluster} -m comment --comment "flanneld masq" -j RETURN`,
  `-A FLANNEL-POSTRTG -s ${cluster} -d ${subnet} -m comment --comment "flanneld masq" -j RETURN`,
  `-A FLANNEL-POSTRTG ! -s ${cluster} -d ${subnet} -m comment --comment "flanneld masq" -j RETURN`,
  `-A FLANNEL-POSTRTG -s ${cluster} ! -d ${multicast} -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`,
  `-A FLANNEL-POSTRTG ! -s ${cluster} -d ${cluster} -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`,
  'COMMIT',
  '*filter',
  ':FLANNEL-FWD - [0:0]',
  '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
  `-A FLANNEL-FWD -s ${cluster} -m comment --comment "flanneld forward" -j ACCEPT`,
  `-A FLANNEL-FWD -d ${cluster} -m comment --comment "flanneld forward" -j ACCEPT`,
  'COMMIT',
  '',
].join('\n');

/** What flannel (VXLAN backend, kube subnet manager) leaves on node-a, pod CIDR 10.244.1.0/24. */
async function flannelNode(node: Netns, root: string): Promise<void> {
  await node.ipBatch([
    'link add cni0 type bridge',
    'addr add 10.244.1.1/24 dev cni0',
    'link set cni0 up',
    `link add flannel.1 type vxlan id 1 local ${NODE_IP.ip4} dev up0 dstport 8472 nolearning`,
    'addr add 10.244.1.0/32 dev flannel.1',
    'link set flannel.1 up',
    'route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink',
    'neigh add 10.244.2.0 lladdr 0a:58:0a:f4:02:00 dev flannel.1 nud permanent',
    // A host-gw route to a third node, as the host-gw backend leaves them.
    'route add 10.244.3.0/24 via 192.0.2.3 dev up0',
  ]);
  await node.exec('bridge', ['fdb', 'add', '0a:58:0a:f4:02:00', 'dev', 'flannel.1', 'dst', '192.0.2.2', 'self', 'permanent']);
  await node.exec('iptables-restore', ['--noflush'], { input: FLANNEL_IPTABLES(FLANNEL_NETWORK, FLANNEL_SUBNET, '224.0.0.0/4') });
  await node.exec('ip6tables-restore', ['--noflush'], { input: FLANNEL_IPTABLES('fd00:10:244::/48', 'fd00:10:244:1::/64', 'ff00::/8') });
  // flannel >= 0.25 with --use-nftables writes these instead (both here: the script removes either).
  await node.exec('nft', ['-f', '-'], { input: 'table ip flannel-ipv4 {\n chain postrtg { type nat hook postrouting priority srcnat; }\n}\ntable ip6 flannel-ipv6 {\n chain postrtg { type nat hook postrouting priority srcnat; }\n}\n' });
  const files: Record<string, string> = {
    'run/flannel/subnet.env': `FLANNEL_NETWORK=${FLANNEL_NETWORK}\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`,
    'etc/cni/net.d/10-flannel.conflist': JSON.stringify({ name: 'cbr0', cniVersion: '0.3.1', plugins: [{ type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } }, { type: 'portmap', capabilities: { portMappings: true } }] }),
    'opt/cni/bin/flannel': '#!/bin/sh\n',
    'var/lib/cni/flannel/0123456789ab': '{"cniVersion":"0.3.1","name":"cbr0"}',
    'var/lib/cni/networks/cbr0/10.244.1.5': '0123456789ab\neth0',
    'var/lib/cni/networks/cbr0/last_reserved_ip.0': '10.244.1.5',
    'var/lib/cni/results/cbr0-0123456789ab-eth0': '{}',
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
}

/** The script as the image runs it: busybox's shell, which prefers its own applets (grep, rm) to the PATH's. */
const migrate = (node: Netns, root: string, extra: string[] = []) =>
  spawnSync('ip', ['netns', 'exec', node.name, 'busybox', 'sh', SCRIPT, '--root', root, ...extra], { encoding: 'utf8', timeout: 30_000 });

describe('moving in from flannel', () => {
  const set = new NamespaceSet();
  let c: Cluster;
  const root = mkdtempSync(join(tmpdir(), 'kpr-flannel-'));
  const pod = daemonSetPod();
  const conflist = JSON.parse(pod.configMap['10-kpr.conflist'] ?? '') as Conflist;
  const list = (): Conflist => ({
    ...conflist,
    cniVersion: '1.0.0',
    plugins: conflist.plugins.map((p) => (p.type === 'kpr-cni'
      ? { ...p, nodeFile: join(c.dir, 'node.json'), ipam: { ...(p.ipam as Record<string, unknown>), podCIDRFile: join(c.dir, 'node.json'), dataDir: join(root, 'var/lib/cni/networks') } }
      : p)),
  });

  beforeAll(async () => {
    c = await Cluster.create('iptables', [], { beforeProxy: (topo) => flannelNode(topo.node, root) });
    await c.topo.agent(c.topo.externals.ext).listen('tcp', 9090, 'ext');
  }, 120_000);
  afterAll(async () => {
    await c?.destroy();
    await set.destroyAll();
    rmSync(root, { recursive: true, force: true });
  });

  it('refuses while a pod is still attached to cni0, changing nothing', async () => {
    const old = await set.create('oldpod');
    await c.topo.node.ip(['link', 'add', 'vethold', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', old.name]);
    await c.topo.node.ip(['link', 'set', 'vethold', 'master', 'cni0']);
    const r = migrate(c.topo.node, root);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('1 pod interface(s) still attached to cni0: drain the node first');
    expect((await c.topo.node.exec('ip', ['-br', 'link'])).stdout).toContain('flannel.1');
    expect(existsSync(join(root, 'run/flannel/subnet.env'))).toBe(true);
    await c.topo.node.ip(['link', 'del', 'vethold']);
  });

  it('removes flannel\'s devices, routes, rules and files, and keeps the node\'s own', async () => {
    const ownRoutes = (await c.topo.node.exec('ip', ['route', 'show', 'root', '10.244.0.0/16'])).stdout
      .split('\n').filter((l) => l && !/cni0|flannel|via/.test(l));
    const r = migrate(c.topo.node, root);
    expect(r.status, r.stderr).toBe(0);
    const node = c.topo.node;
    const links = (await node.exec('ip', ['-br', 'link'])).stdout;
    for (const l of ['cni0', 'flannel.1']) expect(links).not.toContain(l);
    // The pods' own /32 routes stay; flannel's (through flannel.1 or a gateway) are gone.
    expect((await node.exec('ip', ['route', 'show', 'root', '10.244.0.0/16'])).stdout.split('\n').filter(Boolean)).toEqual(ownRoutes);
    const save = (await node.exec('iptables-save', [])).stdout + (await node.exec('ip6tables-save', [])).stdout;
    expect(save).not.toMatch(/FLANNEL|flanneld/);
    // kpr's own rules are untouched.
    expect(save).toContain('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
    expect((await node.exec('nft', ['list', 'tables'])).stdout).not.toMatch(/flannel/);
    const left = (dir: string) => (existsSync(join(root, dir)) ? readdirSync(join(root, dir)) : []);
    expect(left('run')).toEqual([]);
    expect(left('etc/cni/net.d')).toEqual([]);
    expect(left('opt/cni/bin')).toEqual([]);
    expect(left('var/lib/cni')).toEqual(['networks', 'results']);
    expect(left('var/lib/cni/networks')).toEqual([]);
    expect(left('var/lib/cni/results')).toEqual([]);
    // Again: nothing left to do, and it says so.
    const again = migrate(c.topo.node, root);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout.trim().split('\n')).toEqual(["kpr-migrate-flannel: done; kpr's install-cni puts its own conflist in place"]);
  });

  it('pods created afterwards through the DaemonSet\'s conflist reach a Service, each other and the outside', async () => {
    // The DaemonSet's kpr-network container: the node file and egress masquerade.
    await c.startNetwork(join(c.dir, 'node.json'));
    const pods = [await set.create('newpod1'), await set.create('newpod2')];
    const invs = pods.map((p, i) => ({ containerId: `afterflannel${i}`, netns: p.path, ifName: 'eth0' }));
    const results = [];
    for (const inv of invs) results.push(await runConflist(c.topo.node, list(), 'ADD', inv, {}) as { ips: { address: string }[] });
    const second = results[1]?.ips[0]?.address.split('/')[0] ?? '';
    expect(second).toMatch(/^10\.244\.1\.\d+$/);
    await c.topo.agent(pods[1] as Netns).listen('tcp', 8080, 'newpod2');
    const agent = c.topo.agent(pods[0] as Netns);
    const probe = (host: string, port: number) => agent.call({ op: 'probe', proto: 'tcp', host, port, timeoutMs: 2000 });
    const svc = await probe('10.96.0.10', 80);
    expect(svc.ok, svc.error).toBe(true);
    const direct = await probe(second, 8080);
    expect(direct.reply?.startsWith('newpod2 '), JSON.stringify(direct)).toBe(true);
    const out = await probe('192.0.2.10', 9090);
    // Masqueraded to the node's address by kpr-cni (the destination is outside the cluster).
    expect(out.reply, JSON.stringify(out)).toBe(`ext ${NODE_IP.ip4}`);
    for (const inv of invs) await runConflist(c.topo.node, list(), 'DEL', inv, {});
  });
});
