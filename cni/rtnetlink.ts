// Links, addresses and routes of one netns over rtnetlink, in-process: a NETLINK_ROUTE
// socket of the `netlink` addon that ships next to the executable (dist/bin/netlink.node;
// dlopen ~0.3 ms), the messages encoded in rtnetlink-msg.ts. A socket belongs to the
// netns of the thread that opened it: the node's socket is opened as is, the pod's
// inside syscalls().inNetns (kpr-sys.node's setns(2)), where the pod's sysctls are
// written too. So ADD and DEL spawn no `ip` or `nsenter`; without either addon beside
// the executable (an older install step copied only it), the same ops run as one
// `ip -force -batch -` in that netns (link.ts), with the same result.
import { closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { isSea } from 'node:sea';
import { KprError } from '../lib/errors.ts';
import { lazy } from '../lib/lazy.ts';
import { openNetns, syscalls } from '../lib/syscalls.ts';
import { describeOp, linksNamed, toleratedFailure, type LinkOp, type Links } from './link-ops.ts';
import { describeWhere, ipBatch, ipJson, type Where } from './link.ts';
import { encodeOp, ENODEV, errnoText, getLinkRequest, message, NETLINK_ROUTE, NLMSG_ERROR, parseLink, type Request } from './rtnetlink-msg.ts';
import { writeSysctls } from './sysctl.ts';

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

/** A NETLINK_ROUTE socket in the netns of the thread that makes it: one request at a time, each answered (ACK, error or the object). */
export class Rtnl implements Links {
  private readonly sock: NativeSocket;
  private seq = 0;
  private pending: { seq: number; resolve: (r: Reply) => void; reject: (e: Error) => void } | undefined;
  private readonly indexes = new Map<string, number>();
  private readonly fds: number[] = [];

  /** where: the netns the socket is made in, for errors ("node netns", "netns /run/netns/p"). */
  constructor(Native: NativeCtor, private readonly where: string) {
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
    return new Promise((resolve, reject) => {
      this.pending = { seq, resolve, reject };
      this.sock.send(0, 0, message(r, seq, ack), (err) => { if (err) { this.pending = undefined; reject(err); } });
    });
  }

  /** Index and MTU of a link of this netns; undefined when there is none of that name. */
  async link(name: string): Promise<{ index: number; mtu: number } | undefined> {
    const r = await this.request(getLinkRequest(name), false);
    if (r.errno === ENODEV) return undefined;
    if (r.errno !== 0) throw new KprError('KERNEL', `cannot read link ${name}: ${errnoText(r.errno)}`, { object: `${name} in ${this.where}` });
    return parseLink(r.payload);
  }

  async mtuOf(name: string): Promise<number | undefined> {
    return (await this.link(name))?.mtu;
  }

  async apply(ops: readonly LinkOp[]): Promise<number[]> {
    const tolerated: number[] = [];
    for (const [n, o] of ops.entries()) {
      // Resolve the names the op needs first (the request itself is built synchronously).
      for (const name of linksNamed(o)) {
        if (this.indexes.has(name)) continue;
        const l = await this.link(name);
        if (!l) throw new KprError('KERNEL', `"ip ${describeOp(o)}" failed: Cannot find device "${name}"`, { object: this.where });
        this.indexes.set(name, l.index);
      }
      const req = encodeOp(o, (name) => this.indexes.get(name) ?? 0, (path) => this.openNetns(path));
      const { errno } = await this.request(req);
      if (errno === 0) continue;
      if (errno !== toleratedFailure(o)?.errno) {
        throw new KprError('KERNEL', `"ip ${describeOp(o)}" failed: RTNETLINK answers: ${errnoText(errno)}`, { object: this.where });
      }
      tolerated.push(n);
    }
    return tolerated;
  }

  private openNetns(path: string): number {
    const fd = openNetns(path);
    this.fds.push(fd);
    return fd;
  }
}

/** The same through `ip` (one `ip -force -batch` for all the ops, in the netns), where an addon cannot be loaded. */
class IpCommand implements Links {
  constructor(private readonly where: Where) {}

  async apply(ops: readonly LinkOp[]): Promise<number[]> {
    return ipBatch(this.where, ops.map((o) => {
      const t = toleratedFailure(o);
      return t ? { cmd: describeOp(o), mayFail: t.ipMessage } : { cmd: describeOp(o) };
    }));
  }

  async mtuOf(name: string): Promise<number | undefined> {
    return (ipJson(this.where, ['link', 'show', 'dev', name]) as Array<{ mtu?: number }>)[0]?.mtu;
  }

  close(): void { /* nothing held */ }
}

// Loaded once per call of the plugin, which opens a socket on the node and one in the pod.
const nativeNetlink = lazy((): NativeCtor | undefined => {
  try { return loadAddon(); } catch { return undefined; }
});

function openLinks(where: Where): Links {
  const Native = nativeNetlink();
  const sys = where.netns ? syscalls() : undefined;
  if (!Native || (where.netns && !sys)) return new IpCommand(where);
  const open = () => {
    writeSysctls(where.preSysctls ?? []);
    return new Rtnl(Native, describeWhere(where));
  };
  return where.netns && sys ? sys.inNetns(where.netns, open) : open();
}

/**
 * Runs fn with the links of a netns (the plugin's own, the node's, without
 * where.netns), having written where.preSysctls there first; closed afterwards (an
 * open socket keeps the process alive).
 */
export async function withLinks<T>(where: Where, fn: (links: Links) => Promise<T>): Promise<T> {
  const links = openLinks(where);
  try {
    return await fn(links);
  } finally {
    links.close();
  }
}
