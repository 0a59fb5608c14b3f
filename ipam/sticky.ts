// Sticky addresses: a pod (namespace/name) that comes back gets the address it had,
// and a released sticky address waits stickyTTL for its pod before anyone else may
// take it. Operations on a locked store and its snapshot; they keep the snapshot in
// step with what they write.
//
// Write order makes every crash point read consistently (see addressState): taking
// an address writes the reservation first and the record second; recycling writes
// the record first and the placeholder reservation second.
import type { IpamStore, StickyRecord } from './store.ts';
import { addressState, recycledExpired, recycledHolder, type PodIdentity, type StoreState } from './state.ts';

/** Frees recycled addresses whose TTL has passed and drops records that no longer match a reservation. */
export function reclaimExpired(store: IpamStore, state: StoreState, now: number): string[] {
  const reclaimed: string[] = [];
  for (const ip of [...state.reservations.keys()]) {
    const a = addressState(state, ip);
    if (a?.kind !== 'recycled' || !recycledExpired(state, ip, a, now)) continue;
    store.remove(ip);
    state.reservations.delete(ip);
    reclaimed.push(ip);
  }
  for (const [ip, rec] of [...state.sticky]) {
    const a = addressState(state, ip);
    if (a?.kind === 'corrupt') continue; // keep what we know about an unreadable reservation
    const live = a?.kind === 'allocated' ? a.pod !== undefined : a?.kind === 'recycled' && a.record === rec;
    if (live) continue;
    store.removeSticky(ip);
    state.sticky.delete(ip);
  }
  return reclaimed;
}

/** Records that ip now belongs to the pod, attached as containerId/ifName. */
export function recordAllocation(store: IpamStore, state: StoreState, ip: string, pod: PodIdentity, containerId: string, ifName: string): void {
  const record: StickyRecord = { ip, ...pod, state: 'allocated', containerId, ifName };
  store.writeSticky(record);
  state.sticky.set(ip, record);
}

/** Keeps a released address for its pod until now + ttl. */
export function recycle(store: IpamStore, state: StoreState, record: StickyRecord, ttlMs: number, now: number): void {
  const recycled: StickyRecord = { ...record, state: 'recycled', expiresAt: now + ttlMs };
  store.writeSticky(recycled);
  state.sticky.set(record.ip, recycled);
  const holder = recycledHolder(record);
  store.overwrite(record.ip, holder);
  state.reservations.set(record.ip, { ip: record.ip, file: `${store.dir}/${record.ip}`, holder });
}

/** The address recycled for this pod and interface among ips, the most recently released first. */
export function recycledFor(state: StoreState, pod: PodIdentity, ifName: string, inSet: (ip: string) => boolean): StickyRecord | undefined {
  let best: StickyRecord | undefined;
  for (const ip of state.reservations.keys()) {
    const a = addressState(state, ip);
    if (a?.kind !== 'recycled' || !a.record || !inSet(ip)) continue;
    const r = a.record;
    if (r.podNamespace !== pod.podNamespace || r.podName !== pod.podName || r.ifName !== ifName) continue;
    if (!best || (r.expiresAt ?? 0) > (best.expiresAt ?? 0)) best = r;
  }
  return best;
}
