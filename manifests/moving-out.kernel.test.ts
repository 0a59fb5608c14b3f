// Moving out (manifests/README.md, "Removing kpr from a node"): a node that ran kpr
// (proxy rules of its mode, a pod attached by kpr-cni through the DaemonSet's conflist,
// IPAM state, the pod CIDR file) is, after the documented steps, as it was before kpr:
// links, addresses, routes, nftables ruleset, iptables (nft and legacy, both families)
// and ipsets dump as before. Kept on purpose, and not compared: sysctls kpr and
// kpr-cni set (ip_forward, route_localnet, conntrack limits), loaded kernel modules and
// conntrack entries.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../lab/cluster.ts';
import { NamespaceSet, type Netns } from '../lab/netns.ts';
import { KPR_BIN } from '../lab/kpr-process.ts';
import { runConflist, type Conflist } from '../test/support/cni-kernel.ts';
import { daemonSetPod } from '../test/support/daemonset-pod.ts';

/** Built-in chains of the iptables tables: iptables-nft creates them on first use and leaves them, empty, with policy ACCEPT. */
const BUILTIN = /^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) ACCEPT/;

/** iptables-save without dates, counters and empty built-in chains or tables. */
function iptablesView(save: string): string[] {
  const out: string[] = [];
  let table: string[] = [];
  for (const line of save.split('\n')) {
    if (line.startsWith('#') || BUILTIN.test(line) || line === '') continue;
    if (line.startsWith('*')) table = [line];
    else if (line === 'COMMIT') {
      if (table.length > 1) out.push(...table);
      table = [];
    } else table.push(line.replace(/ \[\d+:\d+\]$/, ''));
  }
  return out;
}

type NftItem = Record<string, Record<string, unknown>>;
/** The nftables ruleset as lines, without counters, and without the empty base chains and tables iptables-nft leaves. */
function nftView(json: string): string[] {
  const items = (JSON.parse(json) as { nftables: NftItem[] }).nftables;
  const rules = new Map<string, string[]>();
  const key = (o: Record<string, unknown>) => `${String(o.family)} ${String(o.table)} ${String(o.chain ?? o.name)}`;
  for (const item of items) {
    const rule = item.rule;
    if (!rule) continue;
    const expr = (rule.expr as Record<string, unknown>[]).filter((e) => !('counter' in e));
    if (JSON.stringify(expr).includes('KUBE-FIREWALL')) continue;
    rules.set(key(rule), [...(rules.get(key(rule)) ?? []), JSON.stringify(expr)]);
  }
  const out: string[] = [];
  for (const item of items) {
    const chain = item.chain;
    if (chain?.name === 'KUBE-FIREWALL') continue;
    if (chain && (rules.get(key(chain))?.length ?? 0) > 0) out.push(`chain ${key(chain)}: ${(rules.get(key(chain)) ?? []).join(' ; ')}`);
    else if (chain && !chain.hook) out.push(`chain ${key(chain)} (empty)`);
    for (const kind of ['set', 'map'] as const) if (item[kind]) out.push(`${kind} ${key(item[kind])}`);
  }
  return out.sort();
}

/**
 * The node's network state, in the dumps an operator would compare. Left out: IPv6
 * link-local addresses and routes (the kernel adds them as links come up) and, kept on
 * purpose, the KUBE-FIREWALL chain (kubelet's: kpr adds the localhost-NodePort rule to
 * it, and leaves it as kube-proxy's cleanup does).
 */
async function nodeDumps(ns: Netns): Promise<Record<string, string[]>> {
  const text = async (cmd: string, args: string[]) => (await ns.exec(cmd, args, { allowFailure: true })).stdout;
  const lines = (s: string) => s.split('\n').filter((l) => l && !l.includes('fe80') && !l.includes('KUBE-FIREWALL'));
  const out: Record<string, string[]> = {};
  for (const args of [['-br', 'link'], ['-br', 'addr'], ['route', 'show', 'table', 'all'], ['-6', 'route', 'show', 'table', 'all']]) {
    out[`ip ${args.join(' ')}`] = lines(await text('ip', args)).map((l) => l.replace(/ fe80::\S+/g, ''));
  }
  out.nft = nftView(await text('nft', ['-j', 'list', 'ruleset']));
  for (const cmd of ['iptables-nft-save', 'ip6tables-nft-save', 'iptables-legacy-save', 'ip6tables-legacy-save']) {
    out[cmd] = iptablesView(await text(cmd, [])).filter((l) => !l.includes('KUBE-FIREWALL'));
  }
  out.ipset = lines(await text('ipset', ['list']));
  return out;
}

/** What a node had before kpr: its own firewall rules in each place kpr and kpr-cni write. */
async function nodeOwnRules(ns: Netns): Promise<void> {
  await ns.exec('iptables', ['-t', 'mangle', '-N', 'KUBE-IPTABLES-HINT']);
  await ns.exec('iptables', ['-A', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT']);
  await ns.exec('iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-s', '192.168.99.0/24', '-j', 'MASQUERADE']);
  await ns.exec('ip6tables', ['-A', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT']);
  await ns.exec('nft', ['-f', '-'], { input: 'table inet node-fw {\n chain input { type filter hook input priority 10; tcp dport 2222 accept; }\n}\n' });
}

describe.each(['iptables', 'nftables'] as const)('moving out of kpr in %s mode', (MODE) => {
  const set = new NamespaceSet();
  let c: Cluster;
  let before: Record<string, string[]> = {};
  const dataDir = mkdtempSync(join(tmpdir(), 'kpr-moveout-ipam-'));
  const pod = daemonSetPod();
  // The DaemonSet's conflist, as install-cni puts it on the node; 1.0.0 for Debian's portmap.
  const conflist = JSON.parse(pod.configMap['10-kpr.conflist'] ?? '') as Conflist;

  beforeAll(async () => {
    c = await Cluster.create(MODE, [], {
      beforeProxy: async (topo) => {
        await nodeOwnRules(topo.node);
        before = await nodeDumps(topo.node);
      },
    });
  }, 120_000);
  afterAll(async () => {
    await c?.destroy();
    await set.destroyAll();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('after the documented steps the node dumps as before kpr', async () => {
    const node = c.topo.node;
    const podNs = await set.create('cnipod');
    const nodeFile = join(c.dir, 'node.json');
    const network = await c.startNetwork(nodeFile);
    const plugins = conflist.plugins.map((p) => (p.type === 'kpr-cni'
      ? { ...p, nodeFile, ipam: { ...(p.ipam as Record<string, unknown>), podCIDRFile: nodeFile, dataDir } }
      : p));
    const list: Conflist = { ...conflist, cniVersion: '1.0.0', plugins };
    const inv = { containerId: 'moveout', netns: podNs.path, ifName: 'eth0' };
    await runConflist(node, list, 'ADD', inv, {});
    // The pod works: it reaches a Service through kpr's rules.
    const r = await c.topo.agent(podNs).call({ op: 'probe', proto: 'tcp', host: '10.96.0.10', port: 80, timeoutMs: 2000 });
    expect(r.ok, r.error).toBe(true);
    expect(await nodeDumps(node)).not.toEqual(before);

    // The documented steps, once the node is drained (its pods deleted by the runtime).
    await runConflist(node, list, 'DEL', inv, {});
    await c.proxy.kill('SIGTERM');
    await network.kill('SIGTERM');
    for (const args of [['proxy', '--cleanup'], ['network', '--cleanup', `--node-file=${nodeFile}`]]) {
      const cleanup = await node.exec(KPR_BIN, args, { allowFailure: true });
      expect(cleanup.exitCode, `${args.join(' ')}: ${cleanup.stderr}`).toBe(0);
    }
    expect(existsSync(nodeFile)).toBe(false);
    await node.exec('ip', ['link', 'del', 'kpr0'], { allowFailure: true });
    rmSync(join(dataDir, conflist.name), { recursive: true, force: true });
    rmSync(join(c.dir, 'podcidr.json'), { force: true });
    // Kept on purpose: kpr network's forwarding sysctls (as flannel, it never turns them back off).

    expect(await nodeDumps(node)).toEqual(before);
    expect(existsSync(join(dataDir, conflist.name))).toBe(false);
    mkdirSync(dataDir, { recursive: true });
  }, 60_000);
});
