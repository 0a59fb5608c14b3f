// The conntrack table through ctnetlink: one dump of a family's UDP entries, and
// deletes of single entries by their original tuple (a hash lookup in the kernel, no
// walk), pipelined on the same socket. This module loads the `netlink` native addon;
// import it lazily so that commands that never clean conntrack never load it.
import { getSystemErrorName } from 'node:util';
import { RawNetlinkSocket } from 'netlink/dist/raw.js';
import { KprError } from '../../lib/errors.ts';
import type { IPFamily } from '../../lib/ip.ts';
import { decodeReplies, encodeDelete, encodeDumpRequest, IPPROTO_UDP, NETLINK_NETFILTER, type ConntrackEntry, type Reply } from './netlink-codec.ts';
import { ProxyError } from '../errors.ts';

/** What a batch of deletes did. */
export interface DeleteResult {
  deleted: number;
  /** Entries that were already gone (expired or deleted by someone else). */
  alreadyGone: number;
}

/** Room a reply (ACK, or error echoing the request) takes in the receive buffer, skb overhead included, rounded up. */
const REPLY_TRUESIZE = 1024;
/** Deletes per sendmsg. */
const BATCH = 64;
/**
 * Receive buffer asked for (the kernel doubles it, capped at net.core.rmem_max): room
 * for a window of some hundreds of ACKs, the same on every node.
 */
const RECV_BUFFER = 256 << 10;
/** Read buffer: the kernel fills dump datagrams up to what reads ask for, at most 32 KiB. */
const READ_BUFFER = 32 << 10;

const errnoName = (errno: number) => {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
};

export class CtnetlinkSocket {
  private readonly sock: RawNetlinkSocket;
  private readonly portId: number;
  private seq = 0;
  private onReplies: (replies: Reply[]) => void = () => undefined;
  private onFailure: (err: Error) => void = () => undefined;

  constructor() {
    this.sock = new RawNetlinkSocket(NETLINK_NETFILTER, { messagePeeking: false, msgBufferSize: READ_BUFFER, recvBufferSize: RECV_BUFFER, sendBufferSize: 0 /* the default */ });
    this.portId = this.sock.address().port;
    this.sock.on('message', (buf) => {
      let replies: Reply[];
      try {
        replies = decodeReplies(buf);
      } catch (err) {
        this.onFailure(new ProxyError('CONNTRACK', 'undecodable ctnetlink reply', { cause: err }));
        return;
      }
      this.onReplies(replies);
    });
    this.sock.on('truncatedMessage', () => this.onFailure(new ProxyError('CONNTRACK', 'truncated ctnetlink reply')));
    this.sock.on('error', (err) => this.onFailure(new ProxyError('CONNTRACK', `ctnetlink socket: ${err.code}`, { cause: err })));
  }

  close(): void {
    this.sock.close();
  }

  /**
   * One pass over the UDP entries of a family; keeps those `keep` picks, as they
   * arrive (a table of 250,000 entries is never held whole).
   */
  dumpUDP(family: IPFamily, keep: (e: ConntrackEntry) => boolean): Promise<{ scanned: number; kept: ConntrackEntry[] }> {
    const seq = ++this.seq;
    const kept: ConntrackEntry[] = [];
    let scanned = 0;
    return new Promise((resolve, reject) => {
      this.onFailure = reject;
      this.onReplies = (replies) => {
        for (const r of replies) {
          if (r.seq !== seq) continue;
          // Kernels before 5.8 ignore the UDP filter of the request.
          if (r.kind === 'entry' && r.entry.proto === IPPROTO_UDP) {
            scanned++;
            if (keep(r.entry)) kept.push(r.entry);
          } else if (r.kind === 'done') {
            resolve({ scanned, kept });
          } else if (r.kind === 'error' && r.errno !== 0) {
            reject(new ProxyError('CONNTRACK', `conntrack dump (IPv${family}) failed: ${errnoName(r.errno)}`));
          }
        }
      };
      this.sock.send(encodeDumpRequest(family, seq, this.portId), undefined, (err) => err && this.onFailure(err));
    });
  }

  /**
   * Deletes the entries, BATCH messages per sendmsg, with as many in flight as the
   * receive buffer has room for replies (a reply that does not fit would be lost).
   * Only the last message of a batch asks for an ACK: the kernel handles a datagram's
   * messages in order and answers each failing one with an error, so that ACK settles
   * the whole batch — one reply per batch instead of one per delete. ENOENT (already
   * gone) is not a failure; any other error is, named with its errno.
   */
  deleteAll(family: IPFamily, entries: readonly ConntrackEntry[]): Promise<DeleteResult> {
    const result: DeleteResult = { deleted: 0, alreadyGone: 0 };
    if (entries.length === 0) return Promise.resolve(result);
    const window = Math.max(BATCH, Math.floor(this.sock.getRecvBufferSize() / REPLY_TRUESIZE));
    const firstSeq = this.seq + 1;
    this.seq += entries.length;
    const isLastOfBatch = (i: number) => (i + 1) % BATCH === 0 || i === entries.length - 1;
    const examples: string[] = [];
    let failed = 0;
    let sent = 0;
    /** Messages settled by their batch's ACK, and the errors seen past them. */
    let settled = 0;
    let errorsPending = 0;
    return new Promise((resolve, reject) => {
      const pump = () => {
        while (sent < entries.length && sent - settled + BATCH <= window) {
          const n = Math.min(BATCH, entries.length - sent);
          const batch = entries.slice(sent, sent + n).map((e, i) => encodeDelete(family, e, firstSeq + sent + i, this.portId, i === n - 1));
          sent += n;
          this.sock.send(batch, undefined, (err) => err && this.onFailure(err));
        }
      };
      this.onFailure = reject;
      this.onReplies = (replies) => {
        for (const r of replies) {
          if (r.kind !== 'error' || r.seq < firstSeq || r.seq >= firstSeq + entries.length) continue;
          const i = r.seq - firstSeq;
          if (r.errno !== 0) {
            errorsPending++;
            if (errnoName(r.errno) === 'ENOENT') result.alreadyGone++;
            else if (++failed <= 3) examples.push(`${describe(entries[i])}: ${errnoName(r.errno)}`);
          }
          if (isLastOfBatch(i)) {
            result.deleted += i + 1 - settled - errorsPending;
            settled = i + 1;
            errorsPending = 0;
          }
        }
        if (settled < entries.length) pump();
        else if (failed) reject(new ProxyError('CONNTRACK', `${failed} of ${entries.length} conntrack deletes failed, e.g. ${examples.join('; ')}`));
        else resolve(result);
      };
      pump();
    });
  }
}

const describe = (e: ConntrackEntry | undefined) => (e ? `udp ${e.src}:${e.sport} -> ${e.dst}:${e.dport}` : 'entry');
