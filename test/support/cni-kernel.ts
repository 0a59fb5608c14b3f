// Test support for cni/*.kernel.test.ts: a "node" namespace with an uplink to an
// "outside" namespace, pods as further namespaces, and the BUILT plugin run inside
// the node namespace exactly as a container runtime runs it (CNI_* env, config on
// stdin), so that bridges, veths, routes, sysctls and nft rules land in the node.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseIP } from '../../lib/ip.ts';
import { pinBuilt } from './built-kpr.ts';
import { NamespaceSet, uniqueToken, vethPair, type Netns } from '../../lab/netns.ts';

export const REPO = resolve(import.meta.dirname, '../..');
export const REF_CNI_DIR = '/usr/lib/cni';
/**
 * The built executable under its plugin names (kpr-ipam, which the build also links, and
 * the netlink addon beside them), pinned once per test process: a rebuild of dist/ by
 * someone else during the run then cannot pull it away.
 */
export const PINNED_BIN = (() => {
  const pinned = pinBuilt(['kpr-cni', 'kpr-ipam']);
  process.on('exit', pinned.release);
  return pinned.dir;
})();
export const KPR_CNI = join(PINNED_BIN, 'kpr-cni');

export interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed, when it is JSON. */
  json: Record<string, unknown> | undefined;
}

export interface Invocation {
  command: string;
  containerId?: string;
  netns?: string;
  ifName?: string;
  args?: string;
  path?: string;
  /** Extra or overriding env; undefined removes a variable. */
  env?: Record<string, string | undefined>;
  /** A command to run it all under (e.g. strace and its arguments), before `ip netns exec`. */
  under?: readonly string[];
}

/** Runs a CNI plugin binary inside a namespace with a runtime's environment. */
export function runPlugin(ns: Netns, binary: string, inv: Invocation, stdin: string): Promise<PluginRun> {
  const env: Record<string, string | undefined> = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: inv.command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netns,
    CNI_IFNAME: inv.ifName,
    CNI_ARGS: inv.args,
    CNI_PATH: inv.path ?? `${PINNED_BIN}:${REF_CNI_DIR}`,
    ...inv.env,
  };
  const clean = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  return new Promise((done) => {
    const [cmd = 'ip', ...args] = [...(inv.under ?? []), 'ip', 'netns', 'exec', ns.name, binary];
    const child = spawn(cmd, args, { env: clean, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (code) => {
      let json: Record<string, unknown> | undefined;
      try { json = JSON.parse(stdout) as Record<string, unknown>; } catch { /* not JSON */ }
      done({ code: code ?? -1, stdout, stderr, json });
    });
    child.stdin.end(stdin);
  });
}

export interface Lab {
  set: NamespaceSet;
  node: Netns;
  outside: Netns;
  /** The node's uplink interface name (in node) and addresses. */
  uplink: string;
  node4: string;
  node6: string;
  outside4: string;
  outside6: string;
  dataDir: string;
  destroy(): Promise<void>;
}

/**
 * node <-> outside over a veth: 192.0.2.0/24 and 2001:db8:ff::/64, the node's
 * default routes via outside. Outside has no route to any pod subnet, so pod traffic
 * reaches it only masqueraded.
 */
export async function createLab(): Promise<Lab> {
  const set = new NamespaceSet();
  const node = await set.create('node');
  const outside = await set.create('out');
  const t = uniqueToken();
  const uplink = `up${t}`;
  await vethPair(node, uplink, outside, `dn${t}`);
  await node.ipBatch([
    `addr add 192.0.2.1/24 dev ${uplink}`, `addr add 2001:db8:ff::1/64 dev ${uplink} nodad`,
    'route add default via 192.0.2.2', 'route add default via 2001:db8:ff::2',
  ]);
  await outside.ipBatch([`addr add 192.0.2.2/24 dev dn${t}`, `addr add 2001:db8:ff::2/64 dev dn${t} nodad`]);
  const dataDir = mkdtempSync(join(tmpdir(), 'kpr-cni-test-'));
  return {
    set, node, outside, uplink, dataDir,
    node4: '192.0.2.1', node6: '2001:db8:ff::1', outside4: '192.0.2.2', outside6: '2001:db8:ff::2',
    async destroy() {
      await set.destroyAll();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface NetOptions {
  name?: string;
  cniVersion?: string;
  mode?: 'bridge' | 'routed';
  ipMasq?: boolean;
  v4?: string;
  v6?: string | null;
  extra?: Record<string, unknown>;
  ipam?: Record<string, unknown>;
}

/** A kpr-cni plugin config with in-process kpr-ipam over the lab's data dir. */
export function kprConf(lab: Lab, o: NetOptions = {}): Record<string, unknown> {
  const ranges: unknown[] = [[{ subnet: o.v4 ?? '10.244.1.0/24' }]];
  if (o.v6 !== null) ranges.push([{ subnet: o.v6 ?? 'fd00:244:1::/64' }]);
  return {
    cniVersion: o.cniVersion ?? '1.1.0',
    name: o.name ?? 'kpt-net',
    type: 'kpr-cni',
    mode: o.mode ?? 'bridge',
    ipMasq: o.ipMasq ?? false,
    ipam: { type: 'kpr-ipam', dataDir: lab.dataDir, ranges, ...o.ipam },
    ...o.extra,
  };
}

/** `ip -j` in a namespace, parsed. */
export async function ipj(ns: Netns, args: readonly string[]): Promise<Array<Record<string, unknown>>> {
  const out = await ns.exec('ip', ['-j', ...args], { allowFailure: true });
  return out.stdout.trim() ? (JSON.parse(out.stdout) as Array<Record<string, unknown>>) : [];
}

export async function linkNames(ns: Netns): Promise<string[]> {
  return (await ipj(ns, ['link', 'show'])).map((l) => String(l.ifname));
}

/** Reserved addresses in the host-local layout: one file per address, named by it. */
export function ipFiles(lab: Lab, network: string): string[] {
  const dir = join(lab.dataDir, network);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => parseIP(f) !== undefined).sort();
}

export function buildExists(): boolean {
  return existsSync(KPR_CNI);
}

export interface ConflistPlugin {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: ConflistPlugin[];
}

/**
 * What libcni does with a conflist: ADD runs the plugins in order, each getting
 * name, cniVersion, runtimeConfig (its declared capabilities only) and the previous
 * result; CHECK runs in order and DEL in reverse, both with the final ADD result.
 * Returns the final result, or throws with the failing plugin's output.
 */
export async function runConflist(
  ns: Netns, list: Conflist, command: 'ADD' | 'CHECK' | 'DEL', inv: Omit<Invocation, 'command'>,
  capabilityArgs: Record<string, unknown>, prevResult?: unknown,
): Promise<unknown> {
  const order = command === 'DEL' ? [...list.plugins].reverse() : list.plugins;
  let prev = prevResult;
  for (const p of order) {
    const runtimeConfig = Object.fromEntries(Object.entries(capabilityArgs).filter(([k]) => p.capabilities?.[k]));
    const conf: Record<string, unknown> = { ...p, name: list.name, cniVersion: list.cniVersion, runtimeConfig };
    if (prev !== undefined) conf.prevResult = prev;
    const bin = p.type === 'kpr-cni' ? KPR_CNI : join(REF_CNI_DIR, p.type);
    const r = await runPlugin(ns, bin, { ...inv, command }, JSON.stringify(conf));
    if (r.code !== 0) throw new Error(`${command} ${p.type} failed: ${r.stdout}${r.stderr}`);
    if (command === 'ADD') prev = r.json;
  }
  return prev;
}
