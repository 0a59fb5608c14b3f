// Allocation, release, check, GC and status over a locked IpamStore, as host-local's
// allocator does over its backend.Store: no file system, no lock, no clock here
// (the caller passes `now`), so every rule is testable on plain data.
import { KprError } from '../lib/errors.ts';
import { formatIP, parseIP, type IPAddr } from '../lib/ip.ts';
import type { IpamConfig } from './config.ts';
import { allocatable, allocatableCount, candidates, describeRangeSet, rangeFor, spanOf, subnetFor, type IpamRange, type RangeSpan } from './range.ts';
import { addressState, isRecycledHolder, readState, recycledExpired, type PodIdentity, type StoreState } from './state.ts';
import { holds, type Holder, type IpamStore, type StickyRecord } from './store.ts';
import { reclaimExpired, recordAllocation, recycle, recycledFor } from './sticky.ts';
import { IpamError } from './errors.ts';

/** One network attachment: CNI's (CNI_CONTAINERID, CNI_IFNAME). */
export interface Attachment {
  containerId: string;
  ifName: string;
}

export interface AllocateRequest extends Attachment {
  /** The pod's identity (CNI_ARGS K8S_POD_NAMESPACE / K8S_POD_NAME), used when sticky is on. */
  podNamespace?: string;
  podName?: string;
  /** Addresses asked for (runtimeConfig.ips, args.cni.ips, CNI_ARGS IP=), with or without a prefix length. */
  requestedIPs?: string[];
}

export interface IpamIP {
  /** "10.244.1.5/24" */
  address: string;
  gateway?: string;
}

function cidrText(ip: string, span: RangeSpan): string {
  return `${ip}/${span.prefix}`;
}

function toIpamIP(ip: string, range: IpamRange): IpamIP {
  return { address: cidrText(ip, spanOf(range)), gateway: range.gateway };
}

function whyNotAllocatable(span: RangeSpan, value: bigint, range: IpamRange): string | undefined {
  if (allocatable(span, value)) return undefined;
  if (value < span.start || value > span.end) return `is outside ${range.rangeStart}-${range.rangeEnd}`;
  if (value === span.gateway) return `is the gateway of ${range.subnet}`;
  return value === span.network ? `is the network address of ${range.subnet}` : `is the broadcast address of ${range.subnet}`;
}

function describeHolder(state: StoreState, ip: string): string {
  const a = addressState(state, ip);
  if (!a) return 'free';
  if (a.kind === 'corrupt') return `its reservation file is unreadable (${a.error.message})`;
  if (a.kind === 'recycled') return `kept for pod ${a.pod.podNamespace}/${a.pod.podName}${a.expiresAt ? ` until ${new Date(a.expiresAt).toISOString()}` : ''}`;
  return `held by ${a.holder.containerId}${a.holder.ifName ? `/${a.holder.ifName}` : ''}`;
}

/** Canonical requested addresses, in the order given. */
function parseRequested(list: readonly string[]): IPAddr[] {
  return list.map((text, i) => {
    const addr = parseIP(text.split('/')[0] ?? '');
    if (!addr) throw new IpamError('IPAM_REQUESTED_IP', `"${text}" is not an IP address`, { object: `requestedIPs[${i}]` });
    return addr;
  });
}

/**
 * Allocates one address from every range set of cfg for the attachment, or returns
 * the addresses it already holds (a repeated ADD). All or nothing: if one range set
 * fails, what this call took from the others is given back. Unreadable files are
 * stepped around (their addresses stay taken) and returned as problems.
 */
export function allocateLocked(store: IpamStore, cfg: IpamConfig, req: AllocateRequest, now: number): { ips: IpamIP[]; problems: KprError[] } {
  const state = readState(store);
  reclaimExpired(store, state, now);
  const pod: PodIdentity | undefined =
    cfg.sticky && req.podNamespace && req.podName ? { podNamespace: req.podNamespace, podName: req.podName } : undefined;
  const holder: Holder = { containerId: req.containerId, ifName: req.ifName };
  const requested = parseRequested(req.requestedIPs ?? []);
  const undo: (() => void)[] = [];

  const take = (ip: string, idx: number): boolean => {
    if (state.reservations.has(ip) || !store.reserve(ip, holder, idx)) return false;
    state.reservations.set(ip, { ip, file: `${store.dir}/${ip}`, holder });
    undo.push(() => store.remove(ip));
    if (pod) {
      recordAllocation(store, state, ip, pod, req.containerId, req.ifName);
      undo.push(() => store.removeSticky(ip));
    }
    return true;
  };
  // The pod's own recycled address: handed over in place, never through a free state.
  const takeOver = (rec: StickyRecord): void => {
    const placeholder = state.reservations.get(rec.ip);
    store.overwrite(rec.ip, holder);
    state.reservations.set(rec.ip, { ip: rec.ip, file: `${store.dir}/${rec.ip}`, holder });
    undo.push(() => {
      if (placeholder && 'holder' in placeholder) store.overwrite(rec.ip, placeholder.holder);
      store.writeSticky(rec);
    });
    recordAllocation(store, state, rec.ip, { podNamespace: rec.podNamespace, podName: rec.podName }, req.containerId, req.ifName);
  };

  const allocateInSet = (set: IpamRange[], idx: number): IpamIP => {
    const inSet = (ip: string): boolean => {
      const addr = parseIP(ip);
      return addr !== undefined && rangeFor(set, addr) !== undefined;
    };
    const wantedAt = requested.findIndex((addr) => subnetFor(set, addr));
    const wanted = wantedAt >= 0 ? requested.splice(wantedAt, 1)[0] : undefined;
    const wantedText = wanted && formatIP(wanted);

    for (const [ip, r] of state.reservations) {
      if (!('holder' in r) || isRecycledHolder(r.holder) || !holds(r.holder, req.containerId, req.ifName) || !inSet(ip)) continue;
      if (wantedText !== undefined && wantedText !== ip) {
        throw new IpamError('IPAM_REQUESTED_IP', `already holds ${ip} in range ${describeRangeSet(set)}, cannot also take ${wantedText}`, {
          object: `${req.containerId}/${req.ifName}`,
        });
      }
      const found = rangeFor(set, parseIP(ip)!)!;
      if (pod && !state.sticky.has(ip)) recordAllocation(store, state, ip, pod, req.containerId, req.ifName);
      return toIpamIP(ip, found.range);
    }

    if (wanted && wantedText !== undefined) {
      const { range, span } = subnetFor(set, wanted)!;
      const why = whyNotAllocatable(span, wanted.value, range);
      if (why) throw new IpamError('IPAM_REQUESTED_IP', `requested address ${wantedText} ${why}`, { object: `network ${cfg.networkName}` });
      if (take(wantedText, idx)) return toIpamIP(wantedText, range);
      const a = addressState(state, wantedText);
      if (pod && a?.kind === 'recycled' && a.record && a.record.podNamespace === pod.podNamespace && a.record.podName === pod.podName) {
        takeOver(a.record);
        return toIpamIP(wantedText, range);
      }
      throw new IpamError('IPAM_REQUESTED_IP', `requested address ${wantedText} is not available: ${describeHolder(state, wantedText)}`, {
        object: `network ${cfg.networkName}`,
      });
    }

    if (pod) {
      const rec = recycledFor(state, pod, req.ifName, inSet);
      if (rec) {
        takeOver(rec);
        return toIpamIP(rec.ip, rangeFor(set, parseIP(rec.ip)!)!.range);
      }
    }

    for (const c of candidates(set, store.lastReservedIP(idx))) {
      if (take(c.ip, idx)) return toIpamIP(c.ip, c.range);
    }
    const unreadable = [...state.reservations.values()].filter((r) => 'error' in r && inSet(r.ip)).length;
    const note = unreadable > 0 ? ` (${unreadable} held by unreadable files, see kpr ipam list)` : '';
    throw new IpamError('IPAM_EXHAUSTED', `no addresses left in range ${describeRangeSet(set)}${note}`, { object: `network ${cfg.networkName}` });
  };

  try {
    const ips = cfg.rangeSets.map(allocateInSet);
    if (requested.length > 0) {
      throw new IpamError('IPAM_REQUESTED_IP', `requested ${requested.map(formatIP).join(', ')} not in any range (or two in one range set)`, {
        object: `network ${cfg.networkName}`,
      });
    }
    return { ips, problems: state.problems };
  } catch (err) {
    for (const step of undo.reverse()) {
      try {
        step();
      } catch {
        // Best effort: the error that made us roll back is the one to report.
      }
    }
    throw err;
  }
}

/** Gives back one reservation: recycled for its pod when sticky, removed otherwise. */
function releaseOne(store: IpamStore, cfg: IpamConfig, state: StoreState, ip: string, now: number): void {
  const a = addressState(state, ip);
  const rec = state.sticky.get(ip);
  if (cfg.sticky && a?.kind === 'allocated' && a.pod && rec) {
    recycle(store, state, rec, cfg.stickyTTLMs, now);
    return;
  }
  store.remove(ip);
  state.reservations.delete(ip);
  if (rec) {
    store.removeSticky(ip);
    state.sticky.delete(ip);
  }
}

/** The addresses the attachment holds (never a recycled one). */
function heldBy(state: StoreState, att: Attachment): string[] {
  const out: string[] = [];
  for (const [ip, r] of state.reservations) {
    if ('holder' in r && !isRecycledHolder(r.holder) && holds(r.holder, att.containerId, att.ifName)) out.push(ip);
  }
  return out;
}

/** Releases everything the attachment holds in this network; nothing held is not an error (DEL is repeated). */
export function releaseLocked(store: IpamStore, cfg: IpamConfig, att: Attachment, now: number): string[] {
  const state = readState(store);
  const ips = heldBy(state, att);
  for (const ip of ips) releaseOne(store, cfg, state, ip, now);
  return ips;
}

/** What is recorded for the attachment, in range set order, or undefined if nothing is. */
export function checkLocked(store: IpamStore, cfg: IpamConfig, att: Attachment): IpamIP[] | undefined {
  const state = readState(store);
  const held = heldBy(state, att);
  const ips: IpamIP[] = [];
  for (const set of cfg.rangeSets) {
    for (const ip of held) {
      const found = rangeFor(set, parseIP(ip)!);
      if (found) ips.push(toIpamIP(ip, found.range));
    }
  }
  if (ips.length > 0) return ips;
  if (state.problems.length > 0) {
    // One of the unreadable files may be this attachment's: say so rather than "not found".
    throw new IpamError('IPAM_STATE', `nothing recorded for it, and ${state.problems.map((p) => p.message).join('; ')}`, {
      object: `${att.containerId}/${att.ifName}`,
    });
  }
  return undefined;
}

export interface GcResult {
  /** Addresses of attachments not in the valid list (recycled instead of freed when sticky). */
  released: string[];
  /** Recycled sticky addresses whose TTL had passed. */
  reclaimed: string[];
  /** Unreadable files, left in place. */
  problems: KprError[];
}

/** Releases every reservation whose attachment is not in valid (CNI GC's cni.dev/valid-attachments). */
export function gcLocked(store: IpamStore, cfg: IpamConfig, valid: readonly Attachment[], now: number): GcResult {
  const state = readState(store);
  const reclaimed = reclaimExpired(store, state, now);
  const released: string[] = [];
  for (const [ip, r] of [...state.reservations]) {
    if (!('holder' in r) || isRecycledHolder(r.holder)) continue;
    if (valid.some((v) => holds(r.holder, v.containerId, v.ifName))) continue;
    releaseOne(store, cfg, state, ip, now);
    released.push(ip);
  }
  return { released, reclaimed, problems: state.problems };
}

/** Throws IPAM_EXHAUSTED naming the range set if one has no address left (CNI STATUS). */
export function statusLocked(store: IpamStore, cfg: IpamConfig, now: number): void {
  const state = readState(store);
  for (const set of cfg.rangeSets) {
    const spans = set.map(spanOf);
    let free = spans.reduce((n, s) => n + allocatableCount(s), 0n);
    for (const ip of state.reservations.keys()) {
      const addr = parseIP(ip)!;
      if (!spans.some((s) => allocatable(s, addr.value) && s.family === addr.family)) continue;
      const a = addressState(state, ip);
      if (a?.kind === 'recycled' && recycledExpired(state, ip, a, now)) continue;
      free--;
    }
    if (free <= 0n) {
      throw new IpamError('IPAM_EXHAUSTED', `no addresses left in range ${describeRangeSet(set)}`, { object: `network ${cfg.networkName}` });
    }
  }
}
