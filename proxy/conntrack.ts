// Stale UDP conntrack cleanup. UDP has no connection end, so a client keeps sending to
// an endpoint that is gone (or keeps being rejected after endpoints appeared) for as
// long as its conntrack entry lives. After a sync that changed a UDP Service we read
// the UDP table once, pick the entries that point a Service destination at something
// that is not a serving endpoint of it — including Services now without any endpoint
// (kubernetes issue 139628) — and delete exactly those in one batch (`conntrack -R`).
// `conntrack -D` with filters would re-read the whole table per call.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KprError } from '../lib/errors.ts';
import { run } from '../lib/exec.ts';
import type { IPFamily } from '../lib/ip.ts';
import type { ProxySnapshot, ServicePort } from './model/types.ts';

export interface UdpDestinations {
  /** "ip|port" of ClusterIPs, externalIPs and LB IPs -> serving endpoint IPs. */
  byAddress: Map<string, Set<string>>;
  /** NodePort -> serving endpoint IPs (matched on this node's addresses). */
  byNodePort: Map<number, Set<string>>;
}

/**
 * Destinations of the current UDP ServicePorts with their serving endpoints, and of
 * removed ones with none (their entries are all stale), unless reused since.
 */
export function udpDestinations(snapshot: ProxySnapshot, removed: readonly ServicePort[] = []): UdpDestinations {
  const byAddress = new Map<string, Set<string>>();
  const byNodePort = new Map<number, Set<string>>();
  const add = (sp: ServicePort, serving: Set<string>) => {
    for (const ip of [sp.clusterIP, ...sp.externalIPs, ...sp.loadBalancerVIPs]) byAddress.set(`${ip}|${sp.port}`, serving);
    if (sp.nodePort) byNodePort.set(sp.nodePort, serving);
  };
  for (const sp of removed) if (sp.protocol === 'UDP') add(sp, new Set());
  for (const [key, sp] of snapshot.services) {
    if (sp.protocol !== 'UDP') continue;
    add(sp, new Set((snapshot.endpoints.get(key) ?? []).filter((e) => e.serving).map((e) => e.ip)));
  }
  return { byAddress, byNodePort };
}

interface Entry {
  src: string;
  dst: string;
  sport: string;
  dport: string;
  replySrc: string;
}

/** Parses `conntrack -L -p udp` lines: the first tuple is the original direction, the second the reply. */
export function parseConntrack(text: string): Entry[] {
  const out: Entry[] = [];
  for (const line of text.split('\n')) {
    const src = [...line.matchAll(/\bsrc=(\S+)/g)].map((m) => m[1] ?? '');
    const dst = [...line.matchAll(/\bdst=(\S+)/g)].map((m) => m[1] ?? '');
    const sport = [...line.matchAll(/\bsport=(\d+)/g)].map((m) => m[1] ?? '');
    const dport = [...line.matchAll(/\bdport=(\d+)/g)].map((m) => m[1] ?? '');
    if (src.length < 2 || dst.length < 1 || sport.length < 1 || dport.length < 1) continue;
    out.push({ src: src[0] ?? '', dst: dst[0] ?? '', sport: sport[0] ?? '', dport: dport[0] ?? '', replySrc: src[1] ?? '' });
  }
  return out;
}

/** `conntrack -R` lines deleting the entries that lead a Service destination to a non-endpoint. */
export function staleDeletes(entries: readonly Entry[], dests: UdpDestinations, localAddresses: ReadonlySet<string>, family: IPFamily): string[] {
  const out: string[] = [];
  for (const e of entries) {
    const serving = dests.byAddress.get(`${e.dst}|${e.dport}`) ?? (localAddresses.has(e.dst) ? dests.byNodePort.get(Number(e.dport)) : undefined);
    if (!serving || serving.has(e.replySrc)) continue;
    out.push(`-D -p udp -f ipv${family} -s ${e.src} -d ${e.dst} --sport ${e.sport} --dport ${e.dport}`);
  }
  return out;
}

/** One pass over the UDP conntrack table of a family; returns how many entries went. */
export async function cleanupStaleUDP(snapshot: ProxySnapshot, removed: readonly ServicePort[], localAddresses: ReadonlySet<string>): Promise<number> {
  const family = snapshot.family;
  const dests = udpDestinations(snapshot, removed);
  if (dests.byAddress.size === 0 && dests.byNodePort.size === 0) return 0;
  const list = await run('conntrack', ['-L', '-p', 'udp', '-f', `ipv${family}`], { allowFailure: true });
  const deletes = staleDeletes(parseConntrack(list.stdout), dests, localAddresses, family);
  if (deletes.length === 0) return 0;
  // conntrack -R reads a file by path; "-" (stdin) fails on the socket Node gives a
  // child as stdin, so the batch goes through a private temporary file.
  const dir = await mkdtemp(join(tmpdir(), 'kpr-conntrack-'));
  try {
    const file = join(dir, 'deletes');
    await writeFile(file, `${deletes.join('\n')}\n`);
    const r = await run('conntrack', ['-R', file], { allowFailure: true });
    // An entry that expired between the read and the delete is not a failure; anything
    // else (no such tool, bad syntax) is.
    if (r.exitCode !== 0 && !/not found|No such file or directory/i.test(r.stderr)) {
      throw new KprError('CONNTRACK', `conntrack -R exited ${r.exitCode}: ${r.stderr.trim()}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return deletes.length;
}
