import { describe, expect, it } from 'vitest';
import { createLogger } from '../lib/log.ts';
import { FakeClock } from '../lib/clock.ts';
import { SyncRunner } from './runner.ts';

const quiet = createLogger('runner-test', 'silent');

/** A runner over a sync that takes `syncMs` of fake time and records start/end times. */
function setup(opts: { min: number; max: number; retry?: number; syncMs?: number; fail?: (n: number) => boolean }) {
  const clock = new FakeClock(0);
  const starts: number[] = [];
  const ends: number[] = [];
  let active = 0;
  let maxActive = 0;
  const runner = new SyncRunner({
    minInterval: opts.min,
    maxInterval: opts.max,
    retryInterval: opts.retry,
    clock,
    log: quiet,
    sync: async () => {
      starts.push(clock.now());
      active++;
      maxActive = Math.max(maxActive, active);
      if (opts.syncMs) await new Promise<void>((resolve) => clock.setTimeout(resolve, opts.syncMs ?? 0));
      active--;
      ends.push(clock.now());
      if (opts.fail?.(starts.length)) throw new Error('boom');
    },
  });
  return { clock, runner, starts, ends, maxActive: () => maxActive };
}

describe('SyncRunner', () => {
  it('defers a run requested before start until start', async () => {
    const { clock, runner, starts } = setup({ min: 1000, max: 30_000 });
    runner.run();
    await clock.advance(500);
    expect(starts).toEqual([]);
    runner.start();
    await clock.advance(0);
    expect(starts).toEqual([500]);
  });

  it('runs the first request at once and coalesces requests within minInterval into one', async () => {
    const { clock, runner, starts } = setup({ min: 1000, max: 30_000 });
    runner.start();
    runner.run();
    await clock.advance(0);
    expect(starts).toEqual([0]);
    await clock.advance(200);
    runner.run();
    await clock.advance(300);
    runner.run();
    runner.run();
    await clock.advance(2000);
    // minInterval is measured from the start of the previous sync.
    expect(starts).toEqual([0, 1000]);
  });

  it('runs at once when minInterval has passed since the last start', async () => {
    const { clock, runner, starts } = setup({ min: 1000, max: 30_000 });
    runner.start();
    runner.run();
    await clock.advance(1500);
    runner.run();
    await clock.advance(0);
    expect(starts).toEqual([0, 1500]);
  });

  it('never overlaps syncs and turns requests made during a sync into exactly one more', async () => {
    const { clock, runner, starts, ends, maxActive } = setup({ min: 100, max: 30_000, syncMs: 2000 });
    runner.start();
    runner.run();
    await clock.advance(500);
    runner.run();
    await clock.advance(500);
    runner.run();
    await clock.advance(10_000);
    expect(starts).toEqual([0, 2000]);
    expect(ends).toEqual([2000, 4000]);
    expect(maxActive()).toBe(1);
  });

  it('waits for minInterval after a short sync even if asked during it', async () => {
    const { clock, runner, starts } = setup({ min: 1000, max: 30_000, syncMs: 100 });
    runner.start();
    runner.run();
    await clock.advance(50);
    runner.run();
    await clock.advance(5000);
    expect(starts).toEqual([0, 1000]);
  });

  it('syncs every maxInterval after the end of the previous sync when nothing is requested', async () => {
    const { clock, runner, starts } = setup({ min: 1000, max: 30_000, syncMs: 500 });
    runner.start();
    await clock.advance(100_000);
    expect(starts).toEqual([30_000, 60_500, 91_000]);
  });

  it('retryAfter schedules a sync, and a sync in between satisfies it', async () => {
    const { clock, runner, starts } = setup({ min: 1000, max: 30_000 });
    runner.start();
    runner.retryAfter(5000);
    await clock.advance(6000);
    expect(starts).toEqual([5000]);
    runner.retryAfter(10_000);
    await clock.advance(1000);
    runner.run();
    await clock.advance(20_000);
    // The explicit run at 7000 cancelled the retry due at 16000; next is periodic.
    expect(starts).toEqual([5000, 7000]);
    await clock.advance(20_000);
    expect(starts).toEqual([5000, 7000, 37_000]);
  });

  it('retries a failed sync after retryInterval', async () => {
    const { clock, runner, starts } = setup({ min: 1000, max: 30_000, retry: 3000, fail: (n) => n === 1 });
    runner.start();
    runner.run();
    await clock.advance(10_000);
    expect(starts).toEqual([0, 3000]);
  });

  it('stop waits for the running sync and prevents further syncs', async () => {
    const { clock, runner, starts, ends } = setup({ min: 0, max: 30_000, syncMs: 1000 });
    runner.start();
    runner.run();
    await clock.advance(10);
    runner.run();
    let stopped = false;
    const stopping = runner.stop().then(() => { stopped = true; });
    await clock.advance(500);
    expect(stopped).toBe(false);
    await clock.advance(600);
    await stopping;
    expect(stopped).toBe(true);
    runner.run();
    await clock.advance(100_000);
    expect(starts).toEqual([0]);
    expect(ends).toEqual([1000]);
    expect(clock.pending()).toEqual([]);
  });

  it('rejects maxInterval below minInterval', () => {
    expect(() => new SyncRunner({ minInterval: 2000, maxInterval: 1000, sync: async () => {}, log: quiet })).toThrow(/minInterval/);
  });
});
