// IP and CIDR math over plain strings and bigints. Node's net module validates
// addresses but neither canonicalises them nor does prefix arithmetic, which both
// the proxy (normalising API input) and IPAM (allocating from ranges) need.

export type IPFamily = 4 | 6;

export interface IPAddr {
  family: IPFamily;
  /** The address as an unsigned integer (32 or 128 bits). */
  value: bigint;
}

export interface CIDR {
  family: IPFamily;
  /** The network address (host bits cleared). */
  network: bigint;
  prefix: number;
}

const BITS: Record<IPFamily, number> = { 4: 32, 6: 128 };

export function bitsOf(family: IPFamily): number {
  return BITS[family];
}

function parseV4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    // Leading zeros are read as decimal, as Kubernetes' sloppy parser does for
    // objects created before strict validation (e.g. "10.180.00.001").
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | undefined {
  if (s.includes('%')) return undefined;
  let head = s;
  let v4Tail: bigint | undefined;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.') && lastColon >= 0) {
    v4Tail = parseV4(s.slice(lastColon + 1));
    if (v4Tail === undefined) return undefined;
    head = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const toGroups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const left = toGroups(halves[0] ?? '');
  const right = halves.length === 2 ? toGroups(halves[1] ?? '') : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...right];
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (v4Tail !== undefined) v = (v & ~0xffffffffn) | v4Tail;
  return v;
}

export function parseIP(s: string): IPAddr | undefined {
  const t = s.trim();
  if (t.includes(':')) {
    const value = parseV6(t);
    return value === undefined ? undefined : { family: 6, value };
  }
  const value = parseV4(t);
  return value === undefined ? undefined : { family: 4, value };
}

export function formatIP(ip: IPAddr): string {
  if (ip.family === 4) {
    const v = ip.value;
    return [24n, 16n, 8n, 0n].map((sh) => String((v >> sh) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** The canonical text of an address, or undefined if it is not one. */
export function normalizeIP(s: string): string | undefined {
  const ip = parseIP(s);
  return ip && formatIP(ip);
}

export function ipFamily(s: string): IPFamily | undefined {
  return parseIP(s)?.family;
}

function hostMask(family: IPFamily, prefix: number): bigint {
  return (1n << BigInt(BITS[family] - prefix)) - 1n;
}

export function parseCIDR(s: string): CIDR | undefined {
  const [addr, len, extra] = s.trim().split('/');
  if (addr === undefined || len === undefined || extra !== undefined || !/^\d{1,3}$/.test(len)) return undefined;
  const ip = parseIP(addr);
  if (!ip) return undefined;
  const prefix = Number(len);
  if (prefix > BITS[ip.family]) return undefined;
  return { family: ip.family, network: ip.value & ~hostMask(ip.family, prefix), prefix };
}

export function formatCIDR(c: CIDR): string {
  return `${formatIP({ family: c.family, value: c.network })}/${c.prefix}`;
}

/** The canonical text of a CIDR (host bits cleared), or undefined if it is not one. */
export function normalizeCIDR(s: string): string | undefined {
  const c = parseCIDR(s);
  return c && formatCIDR(c);
}

export function cidrContains(c: CIDR, ip: IPAddr): boolean {
  return c.family === ip.family && (ip.value & ~hostMask(c.family, c.prefix)) === c.network;
}

/** The first and last address of a CIDR. */
export function cidrRange(c: CIDR): { first: bigint; last: bigint } {
  return { first: c.network, last: c.network | hostMask(c.family, c.prefix) };
}

/** Compares canonical address strings numerically (IPv4 before IPv6). */
export function compareIPs(a: string, b: string): number {
  const x = parseIP(a);
  const y = parseIP(b);
  if (!x || !y) return a < b ? -1 : a > b ? 1 : 0;
  if (x.family !== y.family) return x.family - y.family;
  return x.value < y.value ? -1 : x.value > y.value ? 1 : 0;
}
