// Giving a full sync's garbage back to the system as soon as the sync is done.
//
// V8 collects its old generation when it next fills or, for an idle process, when its
// memory reducer notices the idleness some 10-30 s later; until then a daemon keeps what
// its largest burst grew (at 10,000 Services the initial list and a full sync leave
// ~100 MB of garbage and free pages). A regular major GC frees the objects but keeps the
// pages; V8's "last resort" flavour also compacts, shrinks the young generation and
// returns the pages. It costs one pause proportional to the live heap (345 ms at 10,000
// Services x 10 endpoints in iptables mode, 60-70 ms idle; its callers log it), paid
// after the initial lists, full syncs and full reconciles only (start, hourly, after a
// failure); a change arriving during it waits for it. The executable's heavy commands
// expose gc for this (bin/heavy.ts); from
// source, without --expose-gc, this does nothing.

type ExposedGC = (options: { type: 'major'; execution: 'async'; flavor: 'last-resort' }) => Promise<void>;

export interface Released {
  /** The collection's duration (the main thread's pause). */
  ms: number;
  /** RSS before and after, in MB. */
  rssBeforeMB: number;
  rssAfterMB: number;
}

/** Collects all garbage and returns the freed pages, in a task of its own; undefined when the runtime does not allow it. */
export async function releaseMemory(): Promise<Released | undefined> {
  const gc = (globalThis as { gc?: ExposedGC }).gc;
  if (!gc) return undefined;
  const rssBeforeMB = process.memoryUsage.rss() / 2 ** 20;
  const started = performance.now();
  await gc({ type: 'major', execution: 'async', flavor: 'last-resort' });
  return { ms: Math.round(performance.now() - started), rssBeforeMB: Math.round(rssBeforeMB), rssAfterMB: Math.round(process.memoryUsage.rss() / 2 ** 20) };
}
