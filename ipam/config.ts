// The "ipam" section of a network configuration: host-local's keys plus kpr's
// sticky and podCIDRFile extensions, validated with zod/mini (the plugin is spawned
// per pod, so import cost matters) and canonicalised the way host-local does.
import { readFileSync } from 'node:fs';
import * as z from 'zod/mini';
import { networkNameProblem } from '../lib/cni-names.ts';
import { KprError } from '../lib/errors.ts';
import { formatCIDR, formatIP, normalizeIP, parseCIDR, parseIP } from '../lib/ip.ts';
import { parseGoDuration } from '../lib/duration.ts';
import { inSpan, spanOf, type IpamRange } from './range.ts';
import { IpamError } from './errors.ts';

export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';
export const DEFAULT_STICKY_TTL_MS = 24 * 3_600_000;

export interface IpamRoute {
  dst: string;
  gw?: string;
}

export interface IpamConfig {
  /** The network name: the store lives in <dataDir>/<networkName>/. */
  networkName: string;
  dataDir: string;
  /** One address is allocated from each range set (dual-stack: one set per family). */
  rangeSets: IpamRange[][];
  routes: IpamRoute[];
  resolvConf?: string;
  sticky: boolean;
  stickyTTLMs: number;
}

const isCIDR = (s: string): boolean => parseCIDR(s) !== undefined;
const isIP = (s: string): boolean => parseIP(s) !== undefined;
const cidr = z.string({ error: 'expected a CIDR' }).check(z.refine(isCIDR, { error: 'expected a CIDR' }));
const ip = z.string({ error: 'expected an IP address' }).check(z.refine(isIP, { error: 'expected an IP address' }));
const path = z.string({ error: 'expected a path' }).check(z.minLength(1, { error: 'expected a non-empty path' }));

const RangeSchema = z.object({
  subnet: cidr,
  rangeStart: z.optional(ip),
  rangeEnd: z.optional(ip),
  gateway: z.optional(ip),
});
type RawRange = z.infer<typeof RangeSchema>;

/** A range and the key it was read from ("whole": the key is the subnet itself). */
interface Located {
  range: RawRange;
  at: string;
  whole?: boolean;
}

const keyOf = (l: Located, key: string): string => (l.whole ? l.at : `${l.at}.${key}`);

const IpamSchema = z.object({
  ranges: z.optional(
    z.array(z.array(RangeSchema).check(z.minLength(1, { error: 'expected at least one range' })), { error: 'expected an array of range sets' }),
  ),
  subnet: z.optional(cidr),
  rangeStart: z.optional(ip),
  rangeEnd: z.optional(ip),
  gateway: z.optional(ip),
  routes: z.optional(z.array(z.object({ dst: cidr, gw: z.optional(ip) }), { error: 'expected an array of routes' })),
  dataDir: z.optional(path),
  resolvConf: z.optional(path),
  sticky: z.optional(z.boolean({ error: 'expected true or false' })),
  stickyTTL: z.optional(
    z.string({ error: 'expected a duration such as "24h"' }).check(
      z.refine((s) => (parseGoDuration(s) ?? 0) > 0, { error: 'expected a positive duration such as "24h" or "90m"' }),
    ),
  ),
  podCIDRFile: z.optional(path),
});

const PodCIDRFileSchema = z.object({
  podCIDRs: z.array(cidr).check(z.minLength(1, { error: 'expected at least one CIDR' })),
});

/** "ranges[0][0].subnet" from a zod issue path. */
function formatPath(base: string, path: readonly PropertyKey[]): string {
  let out = base;
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out;
}

/** The first issue as INVALID_CONFIG naming the key (inside file, when the input came from one). */
function firstIssue(base: string, error: z.core.$ZodError, file?: string): KprError {
  const issue = error.issues[0];
  const key = formatPath(base, issue?.path ?? []);
  let message = issue?.message ?? 'invalid';
  if (issue?.code === 'invalid_type' && message === 'Invalid input') message = `expected ${issue.expected}`;
  return file === undefined
    ? new IpamError('INVALID_CONFIG', message, { object: key })
    : new IpamError('INVALID_CONFIG', `${key}: ${message}`, { object: file });
}

/**
 * Validates and canonicalises the ipam section of network networkName. Throws
 * KprError INVALID_CONFIG naming the offending key, or IPAM_NOT_READY when the pod
 * CIDR file the node agent writes does not exist yet.
 */
export function parseIpamConfig(raw: unknown, networkName: string): IpamConfig {
  const problem = networkNameProblem(networkName);
  if (problem) throw new IpamError('INVALID_CONFIG', `${problem}: it names a directory`, { object: 'name' });
  const parsed = IpamSchema.safeParse(raw);
  if (!parsed.success) throw firstIssue('ipam', parsed.error);
  const c = parsed.data;

  // Each range with where it came from, for error messages: the legacy top-level
  // range comes first (as host-local prepends it), the pod CIDR file only as a fallback.
  const rawSets: Located[][] = [];
  if (c.subnet !== undefined) {
    rawSets.push([{ range: { subnet: c.subnet, rangeStart: c.rangeStart, rangeEnd: c.rangeEnd, gateway: c.gateway }, at: 'ipam' }]);
  }
  c.ranges?.forEach((set, i) => rawSets.push(set.map((range, j) => ({ range, at: `ipam.ranges[${i}][${j}]` }))));
  if (rawSets.length === 0 && c.podCIDRFile !== undefined) {
    const file = c.podCIDRFile;
    readPodCIDRs(file).forEach((subnet, i) => rawSets.push([{ range: { subnet }, at: `${file}: podCIDRs[${i}]`, whole: true }]));
  }
  if (rawSets.length === 0) {
    throw new IpamError('INVALID_CONFIG', 'no addresses to allocate: set ranges, subnet or podCIDRFile', { object: 'ipam' });
  }

  const rangeSets = rawSets.map((set) => set.map(canonicalRange));
  checkFamiliesAndOverlaps(rangeSets, rawSets);

  const cfg: IpamConfig = {
    networkName,
    dataDir: c.dataDir ?? DEFAULT_DATA_DIR,
    rangeSets,
    routes: (c.routes ?? []).map((r) => ({ dst: formatCIDR(parseCIDR(r.dst)!), ...(r.gw ? { gw: normalizeIP(r.gw)! } : {}) })),
    sticky: c.sticky ?? false,
    stickyTTLMs: c.stickyTTL === undefined ? DEFAULT_STICKY_TTL_MS : parseGoDuration(c.stickyTTL)!,
  };
  if (c.resolvConf !== undefined) cfg.resolvConf = c.resolvConf;
  return cfg;
}

/** Fills in host-local's defaults: gateway and rangeStart the first address, rangeEnd the last usable one. */
function canonicalRange(loc: Located): IpamRange {
  const r = loc.range;
  const net = parseCIDR(r.subnet)!;
  const bits = net.family === 4 ? 32 : 128;
  const subnet = formatCIDR(net);
  if (net.prefix > bits - 2) {
    throw new IpamError('INVALID_CONFIG', `${subnet} is too small to allocate from`, { object: keyOf(loc, 'subnet') });
  }
  const last = net.network | ((1n << BigInt(bits - net.prefix)) - 1n);
  const fmt = (value: bigint): string => formatIP({ family: net.family, value });
  const inSubnet = (key: 'rangeStart' | 'rangeEnd' | 'gateway', fallback: bigint): string => {
    const text = r[key];
    if (text === undefined) return fmt(fallback);
    const addr = parseIP(text)!;
    if (addr.family !== net.family || addr.value < net.network || addr.value > last) {
      throw new IpamError('INVALID_CONFIG', `${text} is not in subnet ${subnet}`, { object: keyOf(loc, key) });
    }
    return fmt(addr.value);
  };
  const range: IpamRange = {
    subnet,
    rangeStart: inSubnet('rangeStart', net.network + 1n),
    rangeEnd: inSubnet('rangeEnd', net.family === 4 ? last - 1n : last),
    gateway: inSubnet('gateway', net.network + 1n),
  };
  const span = spanOf(range);
  if (span.start > span.end) {
    throw new IpamError('INVALID_CONFIG', `rangeStart ${range.rangeStart} is after rangeEnd ${range.rangeEnd}`, { object: loc.at });
  }
  return range;
}

function checkFamiliesAndOverlaps(sets: IpamRange[][], located: Located[][]): void {
  const seen: { span: ReturnType<typeof spanOf>; at: string }[] = [];
  sets.forEach((set, i) => {
    const family = set[0] && spanOf(set[0]).family;
    set.forEach((range, j) => {
      const at = located[i]?.[j]?.at ?? 'ipam';
      const span = spanOf(range);
      if (span.family !== family) throw new IpamError('INVALID_CONFIG', 'mixes IPv4 and IPv6 in one range set', { object: at });
      const other = seen.find(
        (o) => inSpan(o.span, { family: span.family, value: span.start }) || inSpan(span, { family: o.span.family, value: o.span.start }),
      );
      if (other) throw new IpamError('INVALID_CONFIG', `overlaps ${other.at}`, { object: at });
      seen.push({ span, at });
    });
  });
}

function readPodCIDRs(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'IPAM_NOT_READY' : 'INVALID_CONFIG';
    throw new IpamError(code, 'cannot read the pod CIDR file (written by the node agent)', { object: file, cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new IpamError('INVALID_CONFIG', 'pod CIDR file is not JSON', { object: file, cause: err });
  }
  const parsed = PodCIDRFileSchema.safeParse(json);
  if (!parsed.success) throw firstIssue('', parsed.error, file);
  return parsed.data.podCIDRs;
}
