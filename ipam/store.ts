// The storage interface the allocator works over (host-local's backend.Store, plus
// kpr's sticky records) and the text formats of what it stores. Every method is
// called with the store's lock held, so implementations need no locking of their own.
import { CNI_NAME_RE } from '../lib/cni-names.ts';
import type { KprError } from '../lib/errors.ts';

/** Who holds an address: what host-local writes into the file named by the IP. */
export interface Holder {
  containerId: string;
  /** Undefined for files written by host-local before 0.7, which held the container ID only. */
  ifName?: string;
}

/** One file named by an IP: its holder, or why it could not be read. */
export type Reservation = { ip: string; file: string; holder: Holder } | { ip: string; file: string; error: KprError };

/** The pod identity behind an allocation, kept only when stickiness is on. */
export interface StickyRecord {
  ip: string;
  podNamespace: string;
  podName: string;
  /** allocated: held by containerId/ifName; recycled: released, kept for the pod until expiresAt. */
  state: 'allocated' | 'recycled';
  containerId: string;
  ifName: string;
  /** Epoch milliseconds; only for recycled records. */
  expiresAt?: number;
}

export type StickyEntry = { ip: string; file: string; record: StickyRecord } | { ip: string; file: string; error: KprError };

export interface IpamStore {
  /** The network directory (for messages). */
  readonly dir: string;
  /** Every file named by an IP address. */
  reservations(): Reservation[];
  /** Creates the file for ip exclusively; false if it already exists. Records ip as last reserved of the range set. */
  reserve(ip: string, holder: Holder, rangeSetIndex: number): boolean;
  /** Replaces the holder of an existing reservation atomically. */
  overwrite(ip: string, holder: Holder): void;
  /** Removes the reservation of ip (no error if there is none). */
  remove(ip: string): void;
  lastReservedIP(rangeSetIndex: number): string | undefined;
  stickyEntries(): StickyEntry[];
  writeSticky(record: StickyRecord): void;
  removeSticky(ip: string): void;
}

/** host-local's line break between container ID and interface name. */
const LINE_BREAK = '\r\n';
// The second line: an interface name, or the pod of a recycled sticky address. No
// whitespace or control characters: anything else means the file is damaged.
const SECOND_LINE = /^[\x21-\x7e]+$/;

export function formatHolder(h: Holder): string {
  return h.ifName === undefined ? h.containerId : `${h.containerId}${LINE_BREAK}${h.ifName}`;
}

/** The holder written in a reservation file, or a reason why the text is not one. */
export function parseHolder(text: string): Holder | string {
  if (text === '') return 'empty (truncated?)';
  const lines = text.split(LINE_BREAK);
  const [containerId, ifName, ...rest] = lines;
  if (rest.length > 0) return 'more than two lines';
  if (containerId === undefined || !CNI_NAME_RE.test(containerId)) return 'first line is not a container ID';
  if (ifName === undefined) return { containerId };
  if (!SECOND_LINE.test(ifName)) return ifName === '' ? 'interface name missing (truncated?)' : 'second line is not an interface name';
  return { containerId, ifName };
}

/** Whether the file held by h belongs to the attachment (containerId, ifName). */
export function holds(h: Holder, containerId: string, ifName: string): boolean {
  return h.containerId === containerId && (h.ifName === undefined || h.ifName === ifName);
}
