// The MTU for pod interfaces when the config gives none: the node's uplink (the
// interface of the default route) minus what an overlay adds.
import { readFileSync } from 'node:fs';
import { CniCode, CniError } from './errors.ts';
import type { Links } from './link-ops.ts';

const FALLBACK_MTU = 1500;

/** The interface of the IPv4 default route with the lowest metric, from /proc/net/route text. */
export function defaultRouteInterface4(procNetRoute: string): string | undefined {
  let best: { iface: string; metric: number } | undefined;
  for (const line of procNetRoute.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const [iface, dest, , , , , metric, mask] = f;
    if (!iface || dest !== '00000000' || mask !== '00000000') continue;
    const m = Number(metric);
    if (!best || m < best.metric) best = { iface, metric: m };
  }
  return best?.iface;
}

/** Same for IPv6, from /proc/net/ipv6_route text (dest, len, ..., metric at 5, iface last). */
export function defaultRouteInterface6(procNetIpv6Route: string): string | undefined {
  let best: { iface: string; metric: number } | undefined;
  for (const line of procNetIpv6Route.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const iface = f[9] ?? '';
    if (f[0] !== '0'.repeat(32) || f[1] !== '00' || iface === 'lo') continue;
    const m = parseInt(f[5] ?? '', 16);
    if (!best || m < best.metric) best = { iface, metric: m };
  }
  return best?.iface;
}

function readOrEmpty(path: string): string {
  try { return readFileSync(path, 'utf8'); } catch { return ''; }
}

export async function detectMtu(encapOverhead: number, links: Links): Promise<number> {
  const iface = defaultRouteInterface4(readOrEmpty('/proc/self/net/route')) ?? defaultRouteInterface6(readOrEmpty('/proc/self/net/ipv6_route'));
  if (!iface) return FALLBACK_MTU - encapOverhead;
  return ((await links.mtuOf(iface)) || FALLBACK_MTU) - encapOverhead;
}

/** The pod MTU from the node file `kpr network` writes (`{"podCIDRs": [...], "mtu": N}`). */
export function nodeFileMtu(path: string): number {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CniError(CniCode.tryAgainLater, `node file ${path} not written yet (kpr network writes it)`);
    throw new CniError(CniCode.ioFailure, `cannot read node file ${path}`, String(err));
  }
  let mtu: unknown;
  try {
    mtu = (JSON.parse(text) as { mtu?: unknown } | null)?.mtu;
  } catch {
    throw new CniError(CniCode.invalidNetworkConfig, `node file ${path} is not JSON`);
  }
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new CniError(CniCode.invalidNetworkConfig, `node file ${path}: key "mtu": expected an integer from 68 to 65535`);
  }
  return mtu;
}
