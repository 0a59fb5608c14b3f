// One stale-UDP cleanup of a family in this process's network namespace: one ctnetlink
// dump of the UDP table, the pure choice of stale entries, and one pipelined delete per
// stale entry (a hash lookup each), so a sync costs one pass over the table however
// many endpoints went away. Without the netlink addon (a node image missing
// netlink.node) the same choice is made from one `conntrack -L`, then deleted with one
// `conntrack -D` filter per (destination, reply source): correct, but each call walks
// the table again.
import { performance } from 'node:perf_hooks';
import { errorMessage, KprError } from '../../lib/errors.ts';
import { run } from '../../lib/exec.ts';
import type { Logger } from '../../lib/log.ts';
import { deleteFilters, isStale, parseConntrack, staleEntries, type CleanupRequest } from './stale.ts';
import { ProxyError } from '../errors.ts';

export interface CleanupReport {
  via: 'netlink' | 'conntrack-tool';
  /** UDP entries of the family read from the table. */
  scanned: number;
  stale: number;
  deleted: number;
  dumpMs: number;
  deleteMs: number;
}

type Netlink = typeof import('./netlink.ts');
let netlink: Promise<Netlink> | undefined;
let reportedMissing = false;

/** Loads the netlink addon once; undefined (logged once as an error) when it cannot be loaded. */
async function loadNetlink(log: Logger): Promise<Netlink | undefined> {
  netlink ??= import('./netlink.ts');
  try {
    return await netlink;
  } catch (err) {
    if (!reportedMissing) {
      reportedMissing = true;
      log.error({ err: errorMessage(err) }, 'cannot load the netlink addon; stale UDP conntrack entries are deleted with one conntrack -D per stale endpoint (slower)');
    }
    return undefined;
  }
}

export async function runCleanup(req: CleanupRequest, log: Logger): Promise<CleanupReport> {
  const nl = await loadNetlink(log);
  return nl ? viaNetlink(nl, req) : viaConntrackTool(req);
}

async function viaNetlink(nl: Netlink, req: CleanupRequest): Promise<CleanupReport> {
  const sock = new nl.CtnetlinkSocket();
  try {
    let t = performance.now();
    const { scanned, kept: stale } = await sock.dumpUDP(req.family, (e) => isStale(e, req));
    const dumpMs = performance.now() - t;
    t = performance.now();
    const { deleted } = await sock.deleteAll(req.family, stale);
    return { via: 'netlink', scanned, stale: stale.length, deleted, dumpMs, deleteMs: performance.now() - t };
  } finally {
    sock.close();
  }
}

/** The fallback; `conntrack` is the command (tests prefix `ip netns exec NS`). */
export async function viaConntrackTool(req: CleanupRequest, conntrack: readonly string[] = ['conntrack']): Promise<CleanupReport> {
  const [cmd = 'conntrack', ...pre] = conntrack;
  let t = performance.now();
  const list = await run(cmd, [...pre, '-L', '-p', 'udp', '-f', `ipv${req.family}`]);
  const entries = parseConntrack(list.stdout);
  const stale = staleEntries(entries, req);
  const dumpMs = performance.now() - t;
  t = performance.now();
  for (const args of deleteFilters(stale, req.family)) {
    // Exit 1 with "0 flow entries" when they expired since the listing: not a failure.
    const r = await run(cmd, [...pre, ...args], { allowFailure: true });
    if (r.exitCode !== 0 && !/\b0 flow entries/.test(r.stderr)) {
      throw new ProxyError('CONNTRACK', `${[cmd, ...pre, ...args].join(' ')} exited ${r.exitCode}: ${r.stderr.trim()}`);
    }
  }
  return { via: 'conntrack-tool', scanned: entries.length, stale: stale.length, deleted: stale.length, dumpMs, deleteMs: performance.now() - t };
}
