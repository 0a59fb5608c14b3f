// Informer handlers only record here; the sync drains. Recording is O(1) per event
// and keeps only the latest version of each object, so a burst of updates to one
// object costs one recomputation at sync time (upstream's change trackers).
import type { EndpointSlice, Service } from '../watch/objects.ts';

export class ServiceChangeTracker {
  private pending = new Map<string, Service | null>();

  /** Records the latest version of Service ns/name (null: deleted). */
  update(nsName: string, svc: Service | null): void {
    this.pending.set(nsName, svc);
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  drain(): Map<string, Service | null> {
    const out = this.pending;
    this.pending = new Map();
    return out;
  }
}

/** Slice changes grouped by the Service they belong to ("ns/service"). */
export type SliceChanges = Map<string, Map<string, EndpointSlice | null>>;

export class EndpointsChangeTracker {
  private pending: SliceChanges = new Map();
  private count = 0;

  /** Records the latest version of slice ns/slice of Service ns/service (null: deleted). */
  update(serviceNsName: string, sliceNsName: string, slice: EndpointSlice | null): void {
    let forService = this.pending.get(serviceNsName);
    if (!forService) this.pending.set(serviceNsName, (forService = new Map()));
    if (!forService.has(sliceNsName)) this.count += 1;
    forService.set(sliceNsName, slice);
  }

  get pendingCount(): number {
    return this.count;
  }

  drain(): SliceChanges {
    const out = this.pending;
    this.pending = new Map();
    this.count = 0;
    return out;
  }
}
