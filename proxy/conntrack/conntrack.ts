// Stale UDP conntrack cleanup after a sync (see stale.ts for which entries
// are stale and cleanup.ts for how they go): one pass over the family's UDP
// table per sync, however many endpoints went away.
import type { Logger } from '../../lib/log.ts';
import { createLogger } from '../../lib/log.ts';
import { runCleanup, type CleanupReport } from './cleanup.ts';
import { hasDestinations, udpDestinations, type CleanupRequest } from './stale.ts';
import type { ProxySnapshot, ServicePort } from '../model/types.ts';

export interface CleanupOptions {
  /** Runs the cleanup elsewhere (tests and benchmarks: in another network namespace); default in-process. */
  cleanup?: (req: CleanupRequest) => Promise<CleanupReport>;
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
  if (opts.cleanup) return (await opts.cleanup(req)).deleted;
  return (await runCleanup(req, opts.log ?? (defaultLog ??= createLogger('conntrack')))).deleted;
}
