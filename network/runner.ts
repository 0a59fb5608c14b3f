// When reconciles run: informer handlers call request() as often as they like; requests
// within `debounceMs` coalesce into one reconcile (a list of 5,000 Nodes is one), two
// reconciles never overlap, a failed one is retried with backoff, and a reconcile runs
// at least every `periodMs` to repair what was changed behind the agent's back.
import type { Clock, TimerHandle } from '../lib/clock.ts';

export interface RunnerOptions {
  debounceMs: number;
  periodMs: number;
  /** First retry delay after a failure; doubles up to periodMs. */
  retryMs: number;
  /** Resolves true when everything was programmed. */
  reconcile: () => Promise<boolean>;
  clock: Clock;
}

export class ReconcileRunner {
  private timer: TimerHandle | undefined;
  private due = Infinity;
  private running: Promise<void> | undefined;
  private requested = false;
  private retry: number;
  private stopped = false;

  constructor(private readonly opts: RunnerOptions) {
    this.retry = opts.retryMs;
  }

  /** Something changed: reconcile soon. */
  request(): void {
    this.requested = true;
    if (!this.running) this.schedule(this.opts.debounceMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.opts.clock.clearTimeout(this.timer);
    await this.running;
  }

  /** Arms the timer to fire in `ms` unless it already fires sooner. */
  private schedule(ms: number): void {
    if (this.stopped) return;
    const at = this.opts.clock.now() + ms;
    if (at >= this.due) return;
    this.opts.clock.clearTimeout(this.timer);
    this.due = at;
    this.timer = this.opts.clock.setTimeout(() => this.fire(), ms);
  }

  private fire(): void {
    this.due = Infinity;
    this.timer = undefined;
    this.requested = false;
    this.running = this.opts.reconcile().then(
      (ok) => this.after(ok),
      () => this.after(false),
    );
  }

  private after(ok: boolean): void {
    this.running = undefined;
    if (ok) this.retry = this.opts.retryMs;
    if (this.requested) this.schedule(this.opts.debounceMs);
    if (!ok) {
      this.schedule(this.retry);
      this.retry = Math.min(this.retry * 2, this.opts.periodMs);
    }
    this.schedule(this.opts.periodMs);
  }
}
