// A snapshot of one network's store, read under the lock, and what each address is
// in it: allocated to an attachment, recycled for a sticky pod, or unreadable.
import type { KprError } from '../lib/errors.ts';
import type { Holder, IpamStore, Reservation, StickyRecord } from './store.ts';

/**
 * The holder written into the file of a recycled sticky address, so that the
 * address stays taken for everyone reading the directory (a stock host-local
 * included) while it waits for its pod. The second line names the pod.
 */
export const RECYCLED_HOLDER_ID = 'kpr-sticky-recycled';

export interface PodIdentity {
  podNamespace: string;
  podName: string;
}

export function recycledHolder(pod: PodIdentity): Holder {
  return { containerId: RECYCLED_HOLDER_ID, ifName: `${pod.podNamespace}/${pod.podName}` };
}

export function isRecycledHolder(h: Holder): boolean {
  return h.containerId === RECYCLED_HOLDER_ID;
}

export interface StoreState {
  reservations: Map<string, Reservation>;
  /** Sticky records that could be read, by IP. */
  sticky: Map<string, StickyRecord>;
  /** IPs whose sticky record exists but could not be read. */
  corruptSticky: Set<string>;
  /** Every unreadable file, as IPAM_STATE errors naming it. */
  problems: KprError[];
}

export function readState(store: IpamStore): StoreState {
  const state: StoreState = { reservations: new Map(), sticky: new Map(), corruptSticky: new Set(), problems: [] };
  for (const r of store.reservations()) {
    state.reservations.set(r.ip, r);
    if ('error' in r) state.problems.push(r.error);
  }
  for (const e of store.stickyEntries()) {
    if ('error' in e) {
      state.corruptSticky.add(e.ip);
      state.problems.push(e.error);
    } else {
      state.sticky.set(e.ip, e.record);
    }
  }
  return state;
}

export type AddressState =
  | { kind: 'allocated'; holder: Holder; pod?: PodIdentity }
  | { kind: 'recycled'; pod: PodIdentity; ifName: string; expiresAt: number | undefined; record: StickyRecord | undefined }
  | { kind: 'corrupt'; error: KprError };

/**
 * What the address's files say together. The reservation file decides whether the
 * address is taken; the sticky record only adds the pod, and is trusted only when it
 * agrees with the reservation (a crash between the two writes leaves them disagreeing).
 */
export function addressState(state: StoreState, ip: string): AddressState | undefined {
  const r = state.reservations.get(ip);
  if (!r) return undefined;
  if ('error' in r) return { kind: 'corrupt', error: r.error };
  const rec = state.sticky.get(ip);
  if (isRecycledHolder(r.holder)) {
    const ok = rec?.state === 'recycled';
    const [podNamespace = '', podName = ''] = (r.holder.ifName ?? '').split('/');
    return {
      kind: 'recycled',
      pod: ok ? { podNamespace: rec.podNamespace, podName: rec.podName } : { podNamespace, podName },
      ifName: ok ? rec.ifName : '',
      expiresAt: ok ? rec.expiresAt : undefined,
      record: ok ? rec : undefined,
    };
  }
  const matches = rec?.state === 'allocated' && rec.containerId === r.holder.containerId && rec.ifName === r.holder.ifName;
  return matches ? { kind: 'allocated', holder: r.holder, pod: { podNamespace: rec.podNamespace, podName: rec.podName } } : { kind: 'allocated', holder: r.holder };
}

/**
 * Whether a recycled address may go to anyone: its TTL has passed, or its record is
 * gone (nothing says how long to keep it). An unreadable record keeps it: we cannot
 * tell, and an operator can release it by hand.
 */
export function recycledExpired(state: StoreState, ip: string, a: AddressState & { kind: 'recycled' }, now: number): boolean {
  if (a.record) return (a.record.expiresAt ?? 0) <= now;
  return !state.corruptSticky.has(ip);
}
