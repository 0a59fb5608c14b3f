// Range sets and the order in which host-local hands out their addresses. Pure:
// plain data in, addresses out.
import { formatIP, parseCIDR, parseIP, type IPAddr, type IPFamily } from '../lib/ip.ts';

/** One range of a range set, canonical text as host-local writes it (defaults filled in). */
export interface IpamRange {
  subnet: string;
  rangeStart: string;
  rangeEnd: string;
  gateway: string;
}

/** Addresses of one range as integers, for the arithmetic below. */
export interface RangeSpan {
  family: IPFamily;
  prefix: number;
  network: bigint;
  last: bigint;
  start: bigint;
  end: bigint;
  gateway: bigint;
}

export function spanOf(r: IpamRange): RangeSpan {
  const c = parseCIDR(r.subnet);
  const start = parseIP(r.rangeStart);
  const end = parseIP(r.rangeEnd);
  const gw = parseIP(r.gateway);
  if (!c || !start || !end || !gw) throw new Error(`range ${r.subnet} was not canonicalised`);
  const bits = c.family === 4 ? 32 : 128;
  const last = c.network | ((1n << BigInt(bits - c.prefix)) - 1n);
  return { family: c.family, prefix: c.prefix, network: c.network, last, start: start.value, end: end.value, gateway: gw.value };
}

export function inSpan(s: RangeSpan, ip: IPAddr): boolean {
  return ip.family === s.family && ip.value >= s.start && ip.value <= s.end;
}

/**
 * Whether an address of the span may be handed out: never the gateway, and for
 * IPv4 never the network or broadcast address even if rangeStart/rangeEnd say so.
 */
export function allocatable(s: RangeSpan, value: bigint): boolean {
  if (value < s.start || value > s.end || value === s.gateway) return false;
  return s.family === 6 || (value !== s.network && value !== s.last);
}

/** How many addresses of the span allocatable() accepts. */
export function allocatableCount(s: RangeSpan): bigint {
  let n = s.end - s.start + 1n;
  const excluded = s.family === 4 ? [s.gateway, s.network, s.last] : [s.gateway];
  for (const v of new Set(excluded)) if (v >= s.start && v <= s.end) n--;
  return n;
}

/** The range of the set holding ip (between rangeStart and rangeEnd), if any. */
export function rangeFor(set: readonly IpamRange[], ip: IPAddr): { range: IpamRange; span: RangeSpan } | undefined {
  for (const range of set) {
    const span = spanOf(range);
    if (inSpan(span, ip)) return { range, span };
  }
  return undefined;
}

/** The range of the set whose subnet holds ip, if any (ip may still be outside rangeStart-rangeEnd). */
export function subnetFor(set: readonly IpamRange[], ip: IPAddr): { range: IpamRange; span: RangeSpan } | undefined {
  for (const range of set) {
    const span = spanOf(range);
    if (ip.family === span.family && ip.value >= span.network && ip.value <= span.last) return { range, span };
  }
  return undefined;
}

export interface Candidate {
  ip: string;
  range: IpamRange;
  span: RangeSpan;
}

/**
 * Every allocatable address of the set once, in host-local's round-robin order:
 * starting right after the last reserved address (if it is in the set), moving
 * through the ranges in order and wrapping around, so that a crash-looping pod does
 * not get the address it just released. Lazy: a /64 is never materialised.
 */
export function* candidates(set: readonly IpamRange[], lastReserved: string | undefined): Generator<Candidate> {
  const spans = set.map(spanOf);
  const last = lastReserved === undefined ? undefined : parseIP(lastReserved);
  let startRange = 0;
  let startValue = spans[0]?.start;
  if (last) {
    const i = spans.findIndex((s) => inSpan(s, last));
    const s = spans[i];
    if (s) {
      startRange = i;
      startValue = last.value + 1n;
      if (last.value === s.end) {
        startRange = (i + 1) % spans.length;
        startValue = spans[startRange]?.start;
      }
    }
  }
  if (startValue === undefined) return;
  // Each range is visited from its start, except the first one, which is visited
  // from the resume point and then once more up to it after wrapping.
  for (let k = 0; k <= spans.length; k++) {
    const idx = (startRange + k) % spans.length;
    const s = spans[idx];
    const range = set[idx];
    if (!s || !range) return;
    const from = k === 0 ? startValue : s.start;
    const to = k === spans.length ? startValue - 1n : s.end;
    for (let v = from; v <= to; v++) {
      if (allocatable(s, v)) yield { ip: formatIP({ family: s.family, value: v }), range, span: s };
    }
  }
}

/** "10.244.1.2-10.244.1.254 10.244.2.1-…", the way host-local names a range set in errors. */
export function describeRangeSet(set: readonly IpamRange[]): string {
  return set.map((r) => `${r.rangeStart}-${r.rangeEnd}`).join(',');
}
