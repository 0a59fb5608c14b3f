// The node side of an attachment over rtnetlink, in-process: one NETLINK_ROUTE socket
// of the `netlink` addon that ships next to the executable (dist/bin/netlink.node;
// dlopen ~0.3 ms), the messages encoded here. It replaces an `ip -batch` spawn per
// ADD and DEL. A socket belongs to the netns of the thread that opened it, and Node
// cannot setns(2), so this only reaches the plugin's own netns (the node's); the veth's
// pod end is created straight in the pod's netns (IFLA_NET_NS_FD), and the pod's
// addresses and routes stay with `ip` run inside it (link.ts).
import { closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { isSea } from 'node:sea';
import { getSystemErrorMessage, getSystemErrorName } from 'node:util';
import { KprError } from '../lib/errors.ts';
import { parseCIDR, parseIP, type IPAddr } from '../lib/ip.ts';
import { describeHostOp, toleratedFailure, type HostOp, type NodeLinks } from './host-ops.ts';
import { ipBatch, ipJson } from './link.ts';

const NETLINK_ROUTE = 0;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_REPLACE = 0x100;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const NLMSG_ERROR = 2;
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
const IFA_FLAGS = 8;
const IFA_F_NODAD = 0x2;
const RTA_DST = 1;
const RTA_OIF = 4;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RT_SCOPE_LINK = 253;
const RTN_UNICAST = 1;
const NDA_DST = 1;
const NTF_PROXY = 0x8;
const NUD_PERMANENT = 0x80;
const ENODEV = 19;

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

// ---- encoding: attributes padded to 4 bytes, nested ones being attribute lists ----

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

/** One request: its type, flags (beside REQUEST and ACK) and payload. */
export interface Request { type: number; flags: number; payload: Buffer }

/** The link message for `name` (by name: the kernel resolves it) with the attributes. */
function linkRequest(name: string, flags: number, attrs: Attr[], ifFlags = 0, change = 0): Request {
  return { type: RTM_NEWLINK, flags, payload: Buffer.concat([ifinfomsg(0, ifFlags, change), encodeAttrs([[IFLA_IFNAME, str(name)], ...attrs])]) };
}

/**
 * The request for an op; `index` resolves a link name to its index (addresses, routes
 * and neighbours name their link by index only), `netnsFd` opens a netns path.
 */
export function encodeHostOp(o: HostOp, index: (dev: string) => number, netnsFd: (path: string) => number): Request {
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
    case 'replace-addr': {
      const c = addrAndPrefix(o.cidr);
      const head = Buffer.alloc(8);
      head.writeUInt8(c.addr.family === 4 ? AF_INET : AF_INET6, 0);
      head.writeUInt8(c.prefix, 1);
      head.writeUInt8(o.nodad ? IFA_F_NODAD : 0, 2);
      head.writeUInt32LE(index(o.dev), 4);
      const addr = ipBytes(c.addr);
      const attrs: Attr[] = [[IFA_LOCAL, addr], [IFA_ADDRESS, addr]];
      if (o.nodad) attrs.push([IFA_FLAGS, u32(IFA_F_NODAD)]);
      return { type: RTM_NEWADDR, flags: NLM_F_CREATE | NLM_F_REPLACE, payload: Buffer.concat([head, encodeAttrs(attrs)]) };
    }
    case 'replace-route': {
      const c = addrAndPrefix(o.dst);
      const head = Buffer.from([c.addr.family === 4 ? AF_INET : AF_INET6, c.prefix, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_LINK, RTN_UNICAST, 0, 0, 0, 0]);
      return { type: RTM_NEWROUTE, flags: NLM_F_CREATE | NLM_F_REPLACE, payload: Buffer.concat([head, encodeAttrs([[RTA_DST, ipBytes(c.addr)], [RTA_OIF, u32(index(o.dev))]])]) };
    }
    case 'add-proxy-neigh': {
      const ip = parseIP(o.dst);
      if (!ip) throw new KprError('KERNEL', `not an address: ${o.dst}`);
      const head = Buffer.alloc(12);
      head.writeUInt8(ip.family === 4 ? AF_INET : AF_INET6, 0);
      head.writeInt32LE(index(o.dev), 4);
      head.writeUInt16LE(NUD_PERMANENT, 8);
      head.writeUInt8(NTF_PROXY, 10);
      return { type: RTM_NEWNEIGH, flags: NLM_F_CREATE | NLM_F_EXCL, payload: Buffer.concat([head, encodeAttrs([[NDA_DST, ipBytes(ip)]])]) };
    }
  }
}

// ---- the socket ----

interface NativeSocket {
  bind(port: number, groups: number): void;
  send(port: number, groups: number, data: Buffer, callback: (err?: Error) => void): void;
  close(): void;
}
type NativeCtor = new (protocol: number, msgBuffer: number, onMessage: (msg: Buffer) => void, onError: (err: Error) => void) => NativeSocket;

function loadAddon(): NativeCtor {
  // In the single executable: next to it (the build ships it there); from source, the npm package's prebuild.
  const file = isSea()
    ? join(dirname(process.execPath), 'netlink.node')
    : createRequire(import.meta.url).resolve(`netlink/prebuilds/${process.platform}-${process.arch}/node.napi.node`);
  const mod = { exports: {} as { NativeNetlink?: NativeCtor } };
  try {
    process.dlopen(mod, file);
  } catch (err) {
    throw new KprError('KERNEL', 'cannot load the netlink addon (it ships next to kpr)', { object: file, cause: err });
  }
  if (!mod.exports.NativeNetlink) throw new KprError('KERNEL', 'the netlink addon has no NativeNetlink', { object: file });
  return mod.exports.NativeNetlink;
}

interface Reply { errno: number; payload: Buffer }

/** A NETLINK_ROUTE socket in the plugin's own netns: one request at a time, each answered (ACK, error or the object). */
export class Rtnl implements NodeLinks {
  private readonly sock: NativeSocket;
  private seq = 0;
  private pending: { seq: number; resolve: (r: Reply) => void; reject: (e: Error) => void } | undefined;
  private readonly indexes = new Map<string, number>();
  private readonly fds: number[] = [];

  constructor(Native: NativeCtor) {
    this.sock = new Native(NETLINK_ROUTE, 64 << 10, (msg) => this.receive(msg), (err) => this.pending?.reject(err));
    // Port 0: the kernel picks a free one.
    this.sock.bind(0, 0);
  }

  close(): void {
    this.sock.close();
    for (const fd of this.fds.splice(0)) closeSync(fd);
  }

  private receive(msg: Buffer): void {
    for (let off = 0; off + 16 <= msg.length;) {
      const len = msg.readUInt32LE(off);
      if (len < 16) break;
      const type = msg.readUInt16LE(off + 4);
      const seq = msg.readUInt32LE(off + 8);
      const body = msg.subarray(off + 16, off + len);
      const p = this.pending;
      if (p && seq === p.seq) {
        this.pending = undefined;
        p.resolve(type === NLMSG_ERROR ? { errno: -body.readInt32LE(0), payload: body } : { errno: 0, payload: body });
      }
      off += (len + 3) & ~3;
    }
  }

  request(r: Request, ack = true): Promise<Reply> {
    const seq = ++this.seq;
    const head = Buffer.alloc(16);
    head.writeUInt32LE(16 + r.payload.length, 0);
    head.writeUInt16LE(r.type, 4);
    head.writeUInt16LE(NLM_F_REQUEST | (ack ? NLM_F_ACK : 0) | r.flags, 6);
    head.writeUInt32LE(seq, 8);
    return new Promise((resolve, reject) => {
      this.pending = { seq, resolve, reject };
      this.sock.send(0, 0, Buffer.concat([head, r.payload]), (err) => { if (err) { this.pending = undefined; reject(err); } });
    });
  }

  /** Index and MTU of a link of this netns; undefined when there is none of that name. */
  async link(name: string): Promise<{ index: number; mtu: number } | undefined> {
    const r = await this.request({ type: RTM_GETLINK, flags: 0, payload: Buffer.concat([ifinfomsg(0), encodeAttrs([[IFLA_IFNAME, str(name)]])]) }, false);
    if (r.errno === ENODEV) return undefined;
    if (r.errno !== 0) throw new KprError('KERNEL', `cannot read link ${name}: ${errnoText(r.errno)}`, { object: name });
    let mtu = 0;
    for (let off = 16; off + 4 <= r.payload.length;) {
      const len = r.payload.readUInt16LE(off);
      if (len < 4) break;
      if (r.payload.readUInt16LE(off + 2) === IFLA_MTU) mtu = r.payload.readUInt32LE(off + 4);
      off += (len + 3) & ~3;
    }
    return { index: r.payload.readInt32LE(4), mtu };
  }

  async mtuOf(name: string): Promise<number | undefined> {
    return (await this.link(name))?.mtu;
  }

  async apply(ops: readonly HostOp[]): Promise<void> {
    for (const o of ops) {
      // Resolve the names the op needs first (the request itself is built synchronously).
      const names = o.op === 'set-master' ? [o.master] : o.op === 'replace-addr' || o.op === 'replace-route' || o.op === 'add-proxy-neigh' ? [o.dev] : [];
      for (const n of names) {
        if (this.indexes.has(n)) continue;
        const l = await this.link(n);
        if (!l) throw new KprError('KERNEL', `"ip ${describeHostOp(o)}" failed: Cannot find device "${n}"`, { object: 'node netns' });
        this.indexes.set(n, l.index);
      }
      const req = encodeHostOp(o, (n) => this.indexes.get(n) ?? 0, (path) => this.openNetns(path));
      const { errno } = await this.request(req);
      if (errno !== 0 && errno !== toleratedFailure(o)?.errno) {
        throw new KprError('KERNEL', `"ip ${describeHostOp(o)}" failed: RTNETLINK answers: ${errnoText(errno)}`, { object: 'node netns' });
      }
    }
  }

  private openNetns(path: string): number {
    try {
      const fd = openSync(path, 'r');
      this.fds.push(fd);
      return fd;
    } catch (err) {
      throw new KprError('KERNEL', 'cannot open the network namespace', { object: path, cause: err });
    }
  }
}

/** The same through `ip` (one `ip -force -batch` for all the ops), where the addon cannot be loaded. */
class IpCommand implements NodeLinks {
  async apply(ops: readonly HostOp[]): Promise<void> {
    ipBatch({}, ops.map((o) => {
      const t = toleratedFailure(o);
      return t ? { cmd: describeHostOp(o), mayFail: t.ipMessage } : { cmd: describeHostOp(o) };
    }));
  }

  async mtuOf(name: string): Promise<number | undefined> {
    return (ipJson({}, ['link', 'show', 'dev', name]) as Array<{ mtu?: number }>)[0]?.mtu;
  }

  close(): void { /* nothing held */ }
}

/**
 * Runs fn with the node's links, closed afterwards (an open socket keeps the process
 * alive). A plugin installed without netlink.node beside it (an older install step
 * copied only the executable) works as before, through `ip`.
 */
export async function withNodeLinks<T>(fn: (links: NodeLinks) => Promise<T>): Promise<T> {
  let Native: NativeCtor | undefined;
  try { Native = loadAddon(); } catch { Native = undefined; }
  const links = Native ? new Rtnl(Native) : new IpCommand();
  try {
    return await fn(links);
  } finally {
    links.close();
  }
}
