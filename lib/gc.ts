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
// expose gc for this (bin/heavy.ts); from source, without --expose-gc, this does nothing.
//
// glibc keeps what V8 and Node's native side freed in its own heap, below the highest
// chunk still in use (the brk heap only shrinks from the top): idle kpr proxy's RSS
// moved by ~12 MB with what happened to stay there. malloc_trim(0) (kpr-sys.node)
// returns every free page of it, wherever it lies.

import type { Logger } from './log.ts';
import { syscalls } from './syscalls.ts';

type ExposedGC = (options: { type: 'major'; execution: 'async'; flavor: 'last-resort' }) => Promise<void>;

const rssMB = () => Math.round(process.memoryUsage.rss() / 2 ** 20);

/**
 * Collects all garbage and returns the freed pages, in a task of its own, and logs `what`
 * with the pause (ms), the RSS before and after (MB), and whether glibc gave pages back
 * (trimmed; absent where kpr-sys.node is missing). Nothing, not even the line, where the
 * runtime does not expose gc.
 */
export async function releaseMemory(log: Logger, what: string): Promise<void> {
  const gc = (globalThis as { gc?: ExposedGC }).gc;
  if (!gc) return;
  const rssBeforeMB = rssMB();
  const started = performance.now();
  await gc({ type: 'major', execution: 'async', flavor: 'last-resort' });
  const trimmed = syscalls()?.mallocTrim();
  log.info({ ms: Math.round(performance.now() - started), rssBeforeMB, rssAfterMB: rssMB(), trimmed }, what);
}
