// The only code that reads and changes the node's routes, neighbours, FDB and links:
// `ip -j` / `bridge -j` listings narrowed to kpr's own (its route protocol, its device
// names), and `ip -batch` / `bridge -batch` for the changes the diff computed.
import { writeFile } from 'node:fs/promises';
import * as z from 'zod';
import { run } from '../lib/exec.ts';
import { KprError } from '../lib/errors.ts';
import { ipFamily } from '../lib/ip.ts';
import type { CurrentDevice, CurrentNetwork, NetworkOps } from './diff.ts';
import { canonicalIP, DEVICE_NAMES, RT_PROTO, type FdbEntry, type Neighbour, type Route, type Underlay } from './plan.ts';
import { NetworkError } from './errors.ts';

const linkSchema = z.array(z.object({
  ifname: z.string(),
  flags: z.array(z.string()).default([]),
  mtu: z.number(),
  address: z.string().default(''),
  linkinfo: z.object({
    info_kind: z.string().optional(),
    info_data: z.object({
      id: z.number().optional(),
      local: z.string().optional(),
      local6: z.string().optional(),
      link: z.string().optional(),
      port: z.number().optional(),
      learning: z.boolean().optional(),
    }).loose().optional(),
  }).loose().optional(),
  addr_info: z.array(z.object({ family: z.string(), local: z.string(), prefixlen: z.number(), scope: z.string().optional() }).loose()).default([]),
}).loose());
export type Link = z.infer<typeof linkSchema>[number];

const routeSchema = z.array(z.object({ dst: z.string(), gateway: z.string().optional(), dev: z.string().optional(), table: z.string().optional(), flags: z.array(z.string()).default([]) }).loose());
const neighSchema = z.array(z.object({ dst: z.string(), dev: z.string().optional(), lladdr: z.string().optional() }).loose());
const fdbSchema = z.array(z.object({ mac: z.string(), ifname: z.string().optional(), dst: z.string().optional() }).loose());

function parseJSON<T>(what: string, schema: z.ZodType<T>, text: string): T {
  const r = schema.safeParse(text.trim() ? JSON.parse(text) : []);
  if (!r.success) throw new NetworkError('KERNEL_STATE', `unexpected ${what} output: ${r.error.issues[0]?.message ?? ''}`);
  return r.data;
}

/**
 * The underlay: the named interface, or the one holding one of the Node's InternalIPs
 * (first in the given order). Throws naming what is missing.
 */
export function findUnderlay(links: readonly Link[], iface: string | undefined, internalIPs: readonly string[]): Underlay {
  const link = iface !== undefined
    ? links.find((l) => l.ifname === iface)
    : internalIPs.map((ip) => links.find((l) => l.addr_info.some((a) => canonicalIP(a.local) === ip))).find((l) => l !== undefined);
  if (!link) {
    throw new NetworkError('NO_UNDERLAY', iface !== undefined ? 'no such interface' : `no interface holds the Node's InternalIP (${internalIPs.join(', ')})`, { object: iface ?? 'underlay' });
  }
  const addresses = link.addr_info.filter((a) => a.scope === 'global' || a.scope === undefined).flatMap((a) => {
    const family = ipFamily(a.local);
    return family ? [{ family, local: canonicalIP(a.local), prefixlen: a.prefixlen }] : [];
  });
  return { name: link.ifname, mtu: link.mtu, addresses };
}

function currentDevice(l: Link): CurrentDevice {
  const info = l.linkinfo?.info_kind === 'vxlan' ? l.linkinfo.info_data : undefined;
  return {
    name: l.ifname,
    vxlan: info && {
      vni: info.id ?? -1, port: info.port ?? -1, local: canonicalIP(info.local ?? info.local6 ?? ''), link: info.link ?? '', learning: info.learning ?? true,
    },
    mtu: l.mtu,
    mac: l.address.toLowerCase(),
    up: l.flags.includes('UP'),
    addresses: l.addr_info.filter((a) => a.scope === 'global').map((a) => `${canonicalIP(a.local)}/${a.prefixlen}`),
  };
}

export interface KernelState {
  /** Every link with its details and addresses. */
  links: Link[];
  current: CurrentNetwork;
}

/**
 * Links, kpr's routes (its protocol, main table, both families) and the permanent
 * entries on its devices, in two spawns run together: one `ip -batch` (one JSON array
 * per line) and one `bridge fdb show`.
 */
export async function readKernel(): Promise<KernelState> {
  const [ipOut, fdbOut] = await Promise.all([
    run('ip', ['-d', '-j', '-batch', '-'], { input: `addr show\nroute show table all proto ${RT_PROTO}\nneigh show nud permanent\n` }),
    run('bridge', ['-j', 'fdb', 'show']),
  ]);
  const [linksText = '', routesText = '', neighText = ''] = ipOut.stdout.split('\n').filter((l) => l.trim() !== '');
  const links = parseJSON('ip addr', linkSchema, linksText);
  const devices = links.filter((l) => DEVICE_NAMES.includes(l.ifname)).map(currentDevice);
  const routes: Route[] = parseJSON('ip route', routeSchema, routesText).flatMap((r) => {
    const family = ipFamily(r.dst.split('/')[0] ?? '');
    const main = r.table === undefined || r.table === 'main';
    return main && family && r.gateway && r.dev ? [{ family, dst: r.dst, via: canonicalIP(r.gateway), dev: r.dev, onlink: r.flags.includes('onlink') }] : [];
  });
  const neighbours: Neighbour[] = parseJSON('ip neigh', neighSchema, neighText).flatMap((n) =>
    n.dev && n.lladdr && DEVICE_NAMES.includes(n.dev) ? [{ dev: n.dev, ip: canonicalIP(n.dst), mac: n.lladdr.toLowerCase() }] : [],
  );
  const fdb: FdbEntry[] = parseJSON('bridge fdb', fdbSchema, fdbOut.stdout).flatMap((f) =>
    f.dst && f.ifname && DEVICE_NAMES.includes(f.ifname) ? [{ dev: f.ifname, mac: f.mac.toLowerCase(), dst: canonicalIP(f.dst) }] : [],
  );
  return { links, current: { devices, routes, neighbours, fdb } };
}

/** The failed lines of a `-force -batch` run, from its stderr ("Command failed -:N" after each error). */
function batchErrors(tool: string, lines: readonly string[], stderr: string): string[] {
  const errors: string[] = [];
  let message: string[] = [];
  for (const text of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)/.exec(text);
    if (m) {
      errors.push(`${tool} ${lines[Number(m[1]) - 1] ?? '?'}: ${message.join(' ').trim()}`);
      message = [];
    } else if (text.trim()) message.push(text.trim());
  }
  return errors;
}

async function runBatch(tool: 'ip' | 'bridge', lines: readonly string[]): Promise<string[]> {
  if (lines.length === 0) return [];
  const out = await run(tool, ['-force', '-batch', '-'], { input: `${lines.join('\n')}\n`, allowFailure: true });
  if (out.exitCode === 0) return [];
  const failed = batchErrors(tool, lines, out.stderr);
  return failed.length ? failed : [`${tool} -batch exited ${out.exitCode}: ${out.stderr.trim()}`];
}

/**
 * Runs the ops, each batch to its end despite failures; returns the failed lines with their
 * errors. The FDB entries need the devices: `bridge` runs after `ip` when that changes
 * devices, else (a Node change) both run at once.
 */
export async function applyOps(ops: NetworkOps): Promise<string[]> {
  if (ops.ip.some((l) => l.startsWith('link '))) return [...await runBatch('ip', ops.ip), ...await runBatch('bridge', ops.bridge)];
  return (await Promise.all([runBatch('ip', ops.ip), runBatch('bridge', ops.bridge)])).flat();
}

/** Packets between pods on different nodes are forwarded by this node. */
export async function enableForwarding(): Promise<void> {
  await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
  await writeFile('/proc/sys/net/ipv6/conf/all/forwarding', '1').catch(() => undefined);
}

/** Removes kpr's devices (their neighbours and FDB entries go with them) and every route with its protocol. */
export async function removeAll(): Promise<string[]> {
  const { links } = await readKernel();
  const ops: NetworkOps = { ip: links.filter((l) => DEVICE_NAMES.includes(l.ifname)).map((l) => `link del ${l.ifname}`), bridge: [] };
  const errors = await applyOps(ops);
  for (const family of [4, 6] as const) {
    const out = await run('ip', [`-${family}`, 'route', 'flush', 'table', 'main', 'proto', String(RT_PROTO)], { allowFailure: true });
    if (out.exitCode !== 0 && family === 4) errors.push(`ip -4 route flush proto ${RT_PROTO}: ${out.stderr.trim()}`);
  }
  return errors;
}
