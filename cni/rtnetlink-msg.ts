// The rtnetlink messages for link ops (link-ops.ts), laid out as iproute2 lays out
// the same command (rtnetlink-msg.test.ts compares the bytes), and the few replies
// the plugin reads. Pure: the socket is rtnetlink.ts.
import { getSystemErrorMessage, getSystemErrorName } from 'node:util';
import { KprError } from '../lib/errors.ts';
import { parseCIDR, parseIP, type IPAddr } from '../lib/ip.ts';
import type { LinkOp } from './link-ops.ts';

export const NETLINK_ROUTE = 0;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_REPLACE = 0x100;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
export const NLMSG_ERROR = 2;
const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_GETLINK = 18;
const RTM_NEWADDR = 20;
const RTM_NEWROUTE = 24;
const RTM_NEWNEIGH = 28;
const AF_INET = 2;
const AF_INET6 = 10;
const IFF_UP = 0x1;
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_IFALIAS = 20;
const IFLA_NET_NS_FD = 28;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_INFO_SLAVE_KIND = 4;
const IFLA_INFO_SLAVE_DATA = 5;
const VETH_INFO_PEER = 1;
const IFLA_BRPORT_MODE = 4;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_F_NODAD = 0x2;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_METRICS = 8;
const RTAX_MTU = 2;
const RTNH_F_ONLINK = 0x4;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RTN_UNICAST = 1;
const NDA_DST = 1;
const NTF_PROXY = 0x8;
const NUD_PERMANENT = 0x80;
export const ENODEV = 19;

// iproute2's wording ("RTNETLINK answers: File exists") for what tests and people grep for.
const STRERROR: Record<number, string> = {
  1: 'Operation not permitted', 2: 'No such file or directory', 16: 'Device or resource busy', 17: 'File exists',
  19: 'No such device', 22: 'Invalid argument', 95: 'Operation not supported', 99: 'Cannot assign requested address',
};

export function errnoText(errno: number): string {
  let name = `errno ${errno}`;
  try { name = getSystemErrorName(-errno); } catch { /* an errno libuv does not know */ }
  return `${STRERROR[errno] ?? safeMessage(errno)} (${name})`;
}

function safeMessage(errno: number): string {
  try { return getSystemErrorMessage(-errno); } catch { return 'error'; }
}

// ---- attributes padded to 4 bytes, nested ones being attribute lists ----

type Attr = [type: number, value: Buffer | Attr[]];

function encodeAttrs(attrs: readonly Attr[]): Buffer {
  const parts: Buffer[] = [];
  for (const [type, value] of attrs) {
    const body = Buffer.isBuffer(value) ? value : encodeAttrs(value);
    const head = Buffer.alloc(4);
    head.writeUInt16LE(4 + body.length, 0);
    head.writeUInt16LE(type, 2);
    parts.push(head, body, Buffer.alloc((4 - (body.length % 4)) % 4));
  }
  return Buffer.concat(parts);
}

const str = (s: string) => Buffer.from(`${s}\0`);
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const u8 = (n: number) => Buffer.from([n]);
const mac = (m: string) => Buffer.from(m.split(':').map((h) => parseInt(h, 16)));
const afOf = (ip: IPAddr) => (ip.family === 4 ? AF_INET : AF_INET6);

function ipBytes(ip: IPAddr): Buffer {
  const n = ip.family === 4 ? 4 : 16;
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Number((ip.value >> BigInt(8 * (n - 1 - i))) & 0xffn);
  return b;
}

function ifinfomsg(index: number, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(change, 12);
  return b;
}

/** "10.244.1.1/24": the address as written (host bits kept) and the prefix. */
function addrAndPrefix(s: string): { addr: IPAddr; prefix: number } {
  const [a = '', p = ''] = s.split('/');
  const addr = parseIP(a);
  if (!addr || parseCIDR(s) === undefined) throw new KprError('KERNEL', `not an address with a prefix: ${s}`);
  return { addr, prefix: Number(p) };
}

function addrOf(s: string): IPAddr {
  const ip = parseIP(s);
  if (!ip) throw new KprError('KERNEL', `not an address: ${s}`);
  return ip;
}

/** One request: its type, flags (beside REQUEST and ACK) and payload. */
export interface Request { type: number; flags: number; payload: Buffer }

/** The message for a request: the header with REQUEST (and ACK) and the sequence number. */
export function message(r: Request, seq: number, ack: boolean): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32LE(16 + r.payload.length, 0);
  head.writeUInt16LE(r.type, 4);
  head.writeUInt16LE(NLM_F_REQUEST | (ack ? NLM_F_ACK : 0) | r.flags, 6);
  head.writeUInt32LE(seq, 8);
  return Buffer.concat([head, r.payload]);
}

/** The link message for `name` (by name: the kernel resolves it) with the attributes. */
function linkRequest(name: string, flags: number, attrs: Attr[], ifFlags = 0, change = 0): Request {
  return { type: RTM_NEWLINK, flags, payload: Buffer.concat([ifinfomsg(0, ifFlags, change), encodeAttrs([[IFLA_IFNAME, str(name)], ...attrs])]) };
}

export function getLinkRequest(name: string): Request {
  return { type: RTM_GETLINK, flags: 0, payload: Buffer.concat([ifinfomsg(0), encodeAttrs([[IFLA_IFNAME, str(name)]])]) };
}

/** Index and MTU from an RTM_NEWLINK reply's payload. */
export function parseLink(payload: Buffer): { index: number; mtu: number } {
  let mtu = 0;
  for (let off = 16; off + 4 <= payload.length;) {
    const len = payload.readUInt16LE(off);
    if (len < 4) break;
    if (payload.readUInt16LE(off + 2) === IFLA_MTU) mtu = payload.readUInt32LE(off + 4);
    off += (len + 3) & ~3;
  }
  return { index: payload.readInt32LE(4), mtu };
}

function addrRequest(cidr: string, dev: number, nodad: boolean, flags: number): Request {
  const c = addrAndPrefix(cidr);
  const head = Buffer.alloc(8);
  head.writeUInt8(afOf(c.addr), 0);
  head.writeUInt8(c.prefix, 1);
  // ifa_flags carries IFA_F_NODAD (it fits the byte: no IFA_FLAGS attribute, as iproute2).
  head.writeUInt8(nodad ? IFA_F_NODAD : 0, 2);
  head.writeUInt32LE(dev, 4);
  const addr = ipBytes(c.addr);
  return { type: RTM_NEWADDR, flags, payload: Buffer.concat([head, encodeAttrs([[IFA_LOCAL, addr], [IFA_ADDRESS, addr]])]) };
}

function rtmsg(family: number, prefix: number, scope: number, flags: number): Buffer {
  const b = Buffer.from([family, prefix, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, scope, RTN_UNICAST, 0, 0, 0, 0]);
  b.writeUInt32LE(flags, 8);
  return b;
}

function addRouteRequest(o: Extract<LinkOp, { op: 'add-route' }>, dev: number): Request {
  const c = addrAndPrefix(o.dst);
  const attrs: Attr[] = [[RTA_DST, ipBytes(c.addr)]];
  if (o.gw) attrs.push([RTA_GATEWAY, ipBytes(addrOf(o.gw))]);
  attrs.push([RTA_OIF, u32(dev)]);
  if (o.mtu) attrs.push([RTA_METRICS, [[RTAX_MTU, u32(o.mtu)]]]);
  // iproute2's default scope: link for an IPv4 route without a gateway, else universe.
  const scope = c.addr.family === 4 && !o.gw ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  const head = rtmsg(afOf(c.addr), c.prefix, scope, o.onlink ? RTNH_F_ONLINK : 0);
  return { type: RTM_NEWROUTE, flags: NLM_F_CREATE | NLM_F_EXCL, payload: Buffer.concat([head, encodeAttrs(attrs)]) };
}

/**
 * The request for an op; `index` resolves a link name to its index (addresses, routes
 * and neighbours name their link by index only), `netnsFd` opens a netns path.
 */
export function encodeOp(o: LinkOp, index: (dev: string) => number, netnsFd: (path: string) => number): Request {
  switch (o.op) {
    case 'add-bridge':
      return linkRequest(o.name, NLM_F_CREATE | NLM_F_EXCL, [[IFLA_MTU, u32(o.mtu)], [IFLA_ADDRESS, mac(o.mac)], [IFLA_LINKINFO, [[IFLA_INFO_KIND, str('bridge')]]]]);
    case 'add-veth': {
      const peer = Buffer.concat([ifinfomsg(0), encodeAttrs([[IFLA_IFNAME, str(o.peer)], [IFLA_MTU, u32(o.peerMtu)], [IFLA_ADDRESS, mac(o.peerMac)], [IFLA_NET_NS_FD, u32(netnsFd(o.peerNetns))]])]);
      return linkRequest(o.name, NLM_F_CREATE | NLM_F_EXCL, [[IFLA_MTU, u32(o.mtu)], [IFLA_ADDRESS, mac(o.mac)],
        [IFLA_LINKINFO, [[IFLA_INFO_KIND, str('veth')], [IFLA_INFO_DATA, [[VETH_INFO_PEER, peer]]]]]]);
    }
    case 'set-alias': return linkRequest(o.dev, 0, [[IFLA_IFALIAS, Buffer.from(o.alias)]]);
    case 'set-master': return linkRequest(o.dev, 0, [[IFLA_MASTER, u32(index(o.master))]]);
    case 'set-hairpin': return linkRequest(o.dev, 0, [[IFLA_LINKINFO, [[IFLA_INFO_SLAVE_KIND, str('bridge')], [IFLA_INFO_SLAVE_DATA, [[IFLA_BRPORT_MODE, u8(1)]]]]]]);
    case 'set-up': return linkRequest(o.dev, 0, [], IFF_UP, IFF_UP);
    case 'del-link': return { ...linkRequest(o.name, 0, []), type: RTM_DELLINK };
    case 'replace-addr': return addrRequest(o.cidr, index(o.dev), o.nodad, NLM_F_CREATE | NLM_F_REPLACE);
    case 'add-addr': return addrRequest(o.cidr, index(o.dev), o.nodad, NLM_F_CREATE | NLM_F_EXCL);
    case 'replace-route': {
      const c = addrAndPrefix(o.dst);
      return { type: RTM_NEWROUTE, flags: NLM_F_CREATE | NLM_F_REPLACE, payload: Buffer.concat([rtmsg(afOf(c.addr), c.prefix, RT_SCOPE_LINK, 0), encodeAttrs([[RTA_DST, ipBytes(c.addr)], [RTA_OIF, u32(index(o.dev))]])]) };
    }
    case 'add-route': return addRouteRequest(o, index(o.dev));
    case 'add-proxy-neigh': {
      const ip = addrOf(o.dst);
      const head = Buffer.alloc(12);
      head.writeUInt8(afOf(ip), 0);
      head.writeInt32LE(index(o.dev), 4);
      head.writeUInt16LE(NUD_PERMANENT, 8);
      head.writeUInt8(NTF_PROXY, 10);
      return { type: RTM_NEWNEIGH, flags: NLM_F_CREATE | NLM_F_EXCL, payload: Buffer.concat([head, encodeAttrs([[NDA_DST, ipBytes(ip)]])]) };
    }
  }
}
