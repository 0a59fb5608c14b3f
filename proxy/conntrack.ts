// Stale UDP conntrack cleanup after a sync (see conntrack-stale.ts for which entries
// are stale and conntrack-cleanup.ts for how they go): one pass over the family's UDP
// table per sync, however many endpoints went away.
import type { Logger } from '../lib/log.ts';
import { createLogger } from '../lib/log.ts';
import { runCleanup } from './conntrack-cleanup.ts';
import { hasDestinations, udpDestinations, type CleanupRequest } from './conntrack-stale.ts';
import type { ProxySnapshot, ServicePort } from './model/types.ts';

export interface CleanupOptions {
  /** Clean the table of this network namespace (tests, benchmarks) through a child process. */
  netns?: string;
  log?: Logger;
}

let defaultLog: Logger | undefined;

/** Deletes the stale UDP entries of the snapshot's family; returns how many went. */
export async function cleanupStaleUDP(
  snapshot: ProxySnapshot,
  removed: readonly ServicePort[],
  localAddresses: ReadonlySet<string>,
  opts: CleanupOptions = {},
): Promise<number> {
  const destinations = udpDestinations(snapshot, removed);
  if (!hasDestinations(destinations)) return 0;
  const req: CleanupRequest = { family: snapshot.family, destinations, localAddresses };
  if (opts.netns) return (await (await import('./conntrack-netns.ts')).cleanupInNamespace(opts.netns, req)).deleted;
  return (await runCleanup(req, opts.log ?? (defaultLog ??= createLogger('conntrack')))).deleted;
}
