// The bounded window of recent changes a watch can resume from. A watch from a
// resourceVersion older than the window is answered 410 Gone, and the client relists.
import type { StoreEvent } from './store.ts';

export class History {
  private events: StoreEvent[] = [];
  /** The oldest resourceVersion a watch may start from: every change after it is still held. */
  private floor: number;

  constructor(private readonly limit: number, startRv: number) {
    this.floor = startRv;
  }

  add(event: StoreEvent): void {
    this.events.push(event);
    // Trim in batches so that adding stays O(1) amortised.
    if (this.events.length >= this.limit * 2) {
      const dropped = this.events.length - this.limit;
      this.floor = this.events[dropped - 1]?.rv ?? this.floor;
      this.events = this.events.slice(dropped);
    }
  }

  /** Forgets the changes up to `rv`; only watches from `rv` or later can start. */
  forgetUpTo(rv: number): void {
    this.events = this.events.filter((e) => e.rv > rv);
    this.floor = Math.max(this.floor, rv);
  }

  oldestServable(): number {
    if (this.events.length > this.limit) {
      return this.events[this.events.length - this.limit - 1]?.rv ?? this.floor;
    }
    return this.floor;
  }

  /** The changes after `rv`, oldest first, or undefined when `rv` is outside the window. */
  since(rv: number): StoreEvent[] | undefined {
    if (rv < this.oldestServable()) return undefined;
    // Events are in increasing rv order: binary search the first one after rv.
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.events[mid]?.rv ?? 0) <= rv) lo = mid + 1;
      else hi = mid;
    }
    return this.events.slice(lo);
  }
}
