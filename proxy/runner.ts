// The bounded-frequency sync runner (kube-proxy's BoundedFrequencyRunner): informer
// handlers call run() as often as they like; syncs are coalesced, never overlap, start
// at least minInterval apart, and happen at least every maxInterval.
import { KprError, errorMessage } from '../lib/errors.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { realClock, type Clock, type TimerHandle } from '../lib/clock.ts';
import { ProxyError } from './errors.ts';

export interface SyncRunnerOptions {
  /** Least time (ms) between the starts of two syncs (minSyncPeriod). */
  minInterval: number;
  /** Longest time (ms) from the end of one sync to the start of the next (syncPeriod). */
  maxInterval: number;
  /** Delay (ms) before retrying a sync that threw; defaults to maxInterval. */
  retryInterval?: number;
  sync: () => Promise<void>;
  clock?: Clock;
  log?: Logger;
}

export class SyncRunner {
  private readonly minInterval: number;
  private readonly maxInterval: number;
  private readonly retryInterval: number;
  private readonly syncFn: () => Promise<void>;
  private readonly clock: Clock;
  private readonly log: Logger;

  private started = false;
  private stopped = false;
  /** True from the moment a sync is launched until it has settled. */
  private busy = false;
  private running: Promise<void> | undefined;
  private requested = false;
  private lastStart: number | undefined;
  private periodicAt = 0;
  private retryAt: number | undefined;
  private timer: TimerHandle | undefined;

  constructor(opts: SyncRunnerOptions) {
    if (!(opts.minInterval >= 0) || !(opts.maxInterval > 0) || opts.maxInterval < opts.minInterval) {
      throw new ProxyError('INVALID_CONFIG', `sync runner: need 0 <= minInterval (${opts.minInterval}ms) <= maxInterval (${opts.maxInterval}ms) and maxInterval > 0`);
    }
    this.minInterval = opts.minInterval;
    this.maxInterval = opts.maxInterval;
    this.retryInterval = Math.min(opts.retryInterval ?? opts.maxInterval, opts.maxInterval);
    this.syncFn = opts.sync;
    this.clock = opts.clock ?? realClock;
    this.log = opts.log ?? createLogger('sync-runner');
  }

  /** Arms the periodic sync and honours any run() requested before. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.periodicAt = this.clock.now() + this.maxInterval;
    this.schedule();
  }

  /** Requests a sync: now if minInterval has passed since the last start, else as soon as it has. */
  run(): void {
    this.requested = true;
    this.schedule();
  }

  /** Makes sure a sync starts within `ms` (still no earlier than minInterval after the last start). */
  retryAfter(ms: number): void {
    const at = this.clock.now() + ms;
    if (this.retryAt === undefined || at < this.retryAt) this.retryAt = at;
    this.schedule();
  }

  /** Stops scheduling and waits for a sync in progress to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer();
    await this.running;
  }

  private schedule(): void {
    if (!this.started || this.stopped || this.busy) return;
    this.cancelTimer();
    const now = this.clock.now();
    let due = this.periodicAt;
    if (this.retryAt !== undefined) due = Math.min(due, this.retryAt);
    if (this.requested) due = Math.min(due, now);
    if (this.lastStart !== undefined) due = Math.max(due, this.lastStart + this.minInterval);
    if (due <= now) {
      this.launch(now);
      return;
    }
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.schedule();
    }, due - now);
  }

  private launch(now: number): void {
    this.busy = true;
    this.requested = false;
    this.retryAt = undefined;
    this.lastStart = now;
    this.running = this.syncOnce().finally(() => {
      this.busy = false;
      this.running = undefined;
      this.periodicAt = this.clock.now() + this.maxInterval;
      this.schedule();
    });
  }

  private async syncOnce(): Promise<void> {
    try {
      await this.syncFn();
    } catch (err) {
      this.log.error({ err: errorMessage(err), retryInMs: this.retryInterval }, 'sync failed');
      this.retryAfter(this.retryInterval);
    }
  }

  private cancelTimer(): void {
    if (this.timer === undefined) return;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
