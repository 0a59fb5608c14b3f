// ctnetlink messages as bytes: the UDP dump request, one delete per entry, and the
// replies (entries, ACKs, errors). No maintained JavaScript library speaks ctnetlink
// (the `netlink` package only gives raw sockets, and covers rtnetlink and genetlink),
// and the few messages we need are small, so we encode and decode them here. Numbers
// are those of the kernel UAPI (linux/netlink.h, linux/netfilter/nfnetlink.h,
// linux/netfilter/nfnetlink_conntrack.h); the CTA_FILTER flag bits are the kernel's
// (net/netfilter/nf_internals.h), part of the ABI though not in the UAPI headers.
// Netlink headers are host byte order: little-endian on every platform the `netlink`
// package ships prebuilt (x64, arm64, arm, ia32). Addresses and ports inside ctnetlink
// attributes are network byte order.
import { formatIP, parseIP, type IPFamily } from '../../lib/ip.ts';

export const NETLINK_NETFILTER = 12;

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_DUMP = 0x300;
const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;
const NLMSG_HDRLEN = 16;
const NFGENMSG_LEN = 4;

const NFNL_SUBSYS_CTNETLINK = 1;
const IPCTNL_MSG_CT_NEW = 0;
const IPCTNL_MSG_CT_GET = 1;
const IPCTNL_MSG_CT_DELETE = 2;
const ctMsg = (m: number) => (NFNL_SUBSYS_CTNETLINK << 8) | m;

const CTA_TUPLE_ORIG = 1;
const CTA_TUPLE_REPLY = 2;
const CTA_ID = 12;
const CTA_ZONE = 18;
const CTA_FILTER = 25;
const CTA_TUPLE_IP = 1;
const CTA_TUPLE_PROTO = 2;
const CTA_IP_V4_SRC = 1;
const CTA_IP_V4_DST = 2;
const CTA_IP_V6_SRC = 3;
const CTA_IP_V6_DST = 4;
const CTA_PROTO_NUM = 1;
const CTA_PROTO_SRC_PORT = 2;
const CTA_PROTO_DST_PORT = 3;
const CTA_FILTER_ORIG_FLAGS = 1;
const CTA_FILTER_F_CTA_PROTO_NUM = 1 << 3;

const AF_INET = 2;
const AF_INET6 = 10;
export const IPPROTO_UDP = 17;

const afOf = (family: IPFamily) => (family === 4 ? AF_INET : AF_INET6);

/** The original tuple of a conntrack entry (what a delete names), and what the reply came from. */
export interface ConntrackEntry {
  /** Layer-4 protocol number (17 for UDP). */
  proto: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** Source of the reply tuple: the endpoint after DNAT, or the original destination if none. */
  replySrc: string;
  /** Conntrack zone (0 = default). */
  zone: number;
  /** The kernel's id of the entry, when known: a delete with it spares a newer entry of the same tuple. */
  id?: number;
}

function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}

const nested = (type: number, children: Buffer[]) => attr(type | NLA_F_NESTED, Buffer.concat(children));
const u8 = (v: number) => Buffer.from([v]);
const be16 = (v: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; };
const be32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b; };
const hostU32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };

function message(type: number, flags: number, seq: number, portId: number, family: IPFamily, attrs: Buffer[]): Buffer {
  const body = Buffer.concat([Buffer.from([afOf(family), 0, 0, 0]), ...attrs]);
  const hdr = Buffer.alloc(NLMSG_HDRLEN);
  hdr.writeUInt32LE(NLMSG_HDRLEN + body.length, 0);
  hdr.writeUInt16LE(type, 4);
  hdr.writeUInt16LE(flags, 6);
  hdr.writeUInt32LE(seq, 8);
  hdr.writeUInt32LE(portId, 12);
  return Buffer.concat([hdr, body]);
}

/**
 * Dump request for the entries of one family, asking the kernel (5.8+, CTA_FILTER) to
 * send only UDP ones; older kernels ignore the unknown attribute and send everything.
 */
export function encodeDumpRequest(family: IPFamily, seq: number, portId: number): Buffer {
  return message(ctMsg(IPCTNL_MSG_CT_GET), NLM_F_REQUEST | NLM_F_DUMP, seq, portId, family, [
    nested(CTA_TUPLE_ORIG, [nested(CTA_TUPLE_PROTO, [attr(CTA_PROTO_NUM, u8(IPPROTO_UDP))])]),
    nested(CTA_FILTER, [attr(CTA_FILTER_ORIG_FLAGS, hostU32(CTA_FILTER_F_CTA_PROTO_NUM))]),
  ]);
}

function addressBytes(family: IPFamily, text: string): Buffer {
  const ip = parseIP(text);
  if (!ip || ip.family !== family) throw new Error(`not an IPv${family} address: ${text}`);
  const n = family === 4 ? 4 : 16;
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = Number((ip.value >> BigInt(8 * (n - 1 - i))) & 0xffn);
  return out;
}

/**
 * Delete of one entry by its original tuple: the kernel looks it up in the hash
 * table (no walk). The tuple is always present — a delete without one would flush.
 * Without `ack` the kernel answers only if the delete fails.
 */
export function encodeDelete(family: IPFamily, e: ConntrackEntry, seq: number, portId: number, ack = true): Buffer {
  const [srcType, dstType] = family === 4 ? [CTA_IP_V4_SRC, CTA_IP_V4_DST] : [CTA_IP_V6_SRC, CTA_IP_V6_DST];
  const attrs = [
    nested(CTA_TUPLE_ORIG, [
      nested(CTA_TUPLE_IP, [attr(srcType, addressBytes(family, e.src)), attr(dstType, addressBytes(family, e.dst))]),
      nested(CTA_TUPLE_PROTO, [attr(CTA_PROTO_NUM, u8(e.proto)), attr(CTA_PROTO_SRC_PORT, be16(e.sport)), attr(CTA_PROTO_DST_PORT, be16(e.dport))]),
    ]),
  ];
  if (e.zone !== 0) attrs.push(attr(CTA_ZONE, be16(e.zone)));
  if (e.id !== undefined) attrs.push(attr(CTA_ID, be32(e.id)));
  return message(ctMsg(IPCTNL_MSG_CT_DELETE), ack ? NLM_F_REQUEST | NLM_F_ACK : NLM_F_REQUEST, seq, portId, family, attrs);
}

/** One message received from ctnetlink. `errno` 0 is an ACK; positive is the error the kernel answered. */
export type Reply =
  | { kind: 'entry'; seq: number; entry: ConntrackEntry }
  | { kind: 'done'; seq: number }
  | { kind: 'error'; seq: number; errno: number }
  | { kind: 'other'; seq: number; type: number };

function formatAddress(buf: Buffer, off: number, len: number): string {
  if (len === 4) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
  return formatIP({ family: 6, value: BigInt(`0x${buf.toString('hex', off, off + len)}`) });
}

/** Offset just past the attribute at `off` (4-byte aligned), after checking it fits in `end`. */
function nextAttr(buf: Buffer, off: number, end: number): number {
  const len = buf.readUInt16LE(off);
  if (len < 4 || off + len > end) throw new Error(`malformed netlink attribute at byte ${off}`);
  return off + ((len + 3) & ~3);
}

const attrType = (buf: Buffer, off: number) => buf.readUInt16LE(off + 2) & NLA_TYPE_MASK;

/**
 * Decodes a tuple's addresses and ports into `e`; of the reply tuple only the source
 * matters. Written as plain loops: a dump of 250,000 entries runs through here.
 */
function decodeTuple(buf: Buffer, start: number, end: number, e: ConntrackEntry, reply: boolean): void {
  for (let off = start; off + 4 <= end; ) {
    const next = nextAttr(buf, off, end);
    const type = attrType(buf, off);
    if (type === CTA_TUPLE_IP) {
      for (let o = off + 4; o + 4 <= next; ) {
        const n = nextAttr(buf, o, next);
        const t = attrType(buf, o);
        const len = buf.readUInt16LE(o) - 4;
        if (t === CTA_IP_V4_SRC || t === CTA_IP_V6_SRC) {
          if (reply) e.replySrc = formatAddress(buf, o + 4, len);
          else e.src = formatAddress(buf, o + 4, len);
        } else if (!reply && (t === CTA_IP_V4_DST || t === CTA_IP_V6_DST)) {
          e.dst = formatAddress(buf, o + 4, len);
        }
        o = n;
      }
    } else if (type === CTA_TUPLE_PROTO && !reply) {
      for (let o = off + 4; o + 4 <= next; ) {
        const n = nextAttr(buf, o, next);
        const t = attrType(buf, o);
        if (t === CTA_PROTO_NUM) e.proto = buf[o + 4] ?? 0;
        else if (t === CTA_PROTO_SRC_PORT) e.sport = buf.readUInt16BE(o + 4);
        else if (t === CTA_PROTO_DST_PORT) e.dport = buf.readUInt16BE(o + 4);
        o = n;
      }
    }
    off = next;
  }
}

function decodeEntry(buf: Buffer, start: number, end: number): ConntrackEntry {
  const e: ConntrackEntry = { proto: 0, src: '', dst: '', sport: 0, dport: 0, replySrc: '', zone: 0, id: undefined };
  let hasOrig = false;
  for (let off = start; off + 4 <= end; ) {
    const next = nextAttr(buf, off, end);
    const type = attrType(buf, off);
    if (type === CTA_TUPLE_ORIG) {
      hasOrig = true;
      decodeTuple(buf, off + 4, next, e, false);
    } else if (type === CTA_TUPLE_REPLY) {
      decodeTuple(buf, off + 4, next, e, true);
    } else if (type === CTA_ZONE) {
      e.zone = buf.readUInt16BE(off + 4);
    } else if (type === CTA_ID) {
      e.id = buf.readUInt32BE(off + 4);
    }
    off = next;
  }
  if (!hasOrig) throw new Error('conntrack entry without an original tuple');
  return e;
}

/** Splits a received datagram into its messages and decodes them. */
export function decodeReplies(buf: Buffer): Reply[] {
  const out: Reply[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) throw new Error(`malformed netlink message at byte ${off}`);
    const type = buf.readUInt16LE(off + 4);
    const seq = buf.readUInt32LE(off + 8);
    if (type === NLMSG_DONE) out.push({ kind: 'done', seq });
    else if (type === NLMSG_ERROR) out.push({ kind: 'error', seq, errno: 0 - buf.readInt32LE(off + NLMSG_HDRLEN) });
    else if (type === ctMsg(IPCTNL_MSG_CT_NEW)) out.push({ kind: 'entry', seq, entry: decodeEntry(buf, off + NLMSG_HDRLEN + NFGENMSG_LEN, off + len) });
    else out.push({ kind: 'other', seq, type });
    off += (len + 3) & ~3;
  }
  return out;
}
