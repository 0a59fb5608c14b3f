// The conntrack table through ctnetlink: one dump of a family's UDP entries, and
// deletes of single entries by their original tuple (a hash lookup in the kernel, no
// walk), pipelined on the same socket. This module loads the `netlink` native addon;
// import it lazily so that commands that never clean conntrack never load it.
import { getSystemErrorName } from 'node:util';
import { RawNetlinkSocket } from 'netlink/dist/raw.js';
import { KprError } from '../lib/errors.ts';
import type { IPFamily } from '../lib/ip.ts';
import { decodeReplies, encodeDelete, encodeDumpRequest, IPPROTO_UDP, NETLINK_NETFILTER, type ConntrackEntry, type Reply } from './conntrack-netlink-codec.ts';

/** What a batch of deletes did. */
export interface DeleteResult {
  deleted: number;
  /** Entries that were already gone (expired or deleted by someone else). */
  alreadyGone: number;
}

/** Room an ACK takes in the socket's receive buffer (skb overhead included), rounded up. */
const ACK_TRUESIZE = 1024;
/** Deletes per sendmsg. */
const BATCH = 64;
/** Asked for; the kernel caps it at net.core.rmem_max. */
const RECV_BUFFER = 4 << 20;
/** Dump datagrams are at most 32 KiB; a larger read buffer lets the kernel fill them. */
const READ_BUFFER = 64 << 10;

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
    this.sock = new RawNetlinkSocket(NETLINK_NETFILTER, { messagePeeking: false, msgBufferSize: READ_BUFFER, recvBufferSize: RECV_BUFFER, sendBufferSize: 0 });
    this.portId = this.sock.address().port;
    this.sock.on('message', (buf) => {
      let replies: Reply[];
      try {
        replies = decodeReplies(buf);
      } catch (err) {
        this.onFailure(new KprError('CONNTRACK', 'undecodable ctnetlink reply', { cause: err }));
        return;
      }
      this.onReplies(replies);
    });
    this.sock.on('truncatedMessage', () => this.onFailure(new KprError('CONNTRACK', 'truncated ctnetlink reply')));
    this.sock.on('error', (err) => this.onFailure(new KprError('CONNTRACK', `ctnetlink socket: ${err.code}`, { cause: err })));
  }

  close(): void {
    this.sock.close();
  }

  /** Every UDP entry of a family, in one pass over the table. */
  dumpUDP(family: IPFamily): Promise<ConntrackEntry[]> {
    const seq = ++this.seq;
    const entries: ConntrackEntry[] = [];
    return new Promise((resolve, reject) => {
      this.onFailure = reject;
      this.onReplies = (replies) => {
        for (const r of replies) {
          if (r.seq !== seq) continue;
          // Kernels before 5.8 ignore the UDP filter of the request.
          if (r.kind === 'entry' && r.entry.proto === IPPROTO_UDP) entries.push(r.entry);
          else if (r.kind === 'done') resolve(entries);
          else if (r.kind === 'error' && r.errno !== 0) reject(new KprError('CONNTRACK', `conntrack dump (IPv${family}) failed: ${errnoName(r.errno)}`));
        }
      };
      this.sock.send(encodeDumpRequest(family, seq, this.portId), undefined, (err) => err && this.onFailure(err));
    });
  }

  /**
   * Deletes the entries, many per sendmsg, with as many ACKs outstanding as the
   * receive buffer holds (an ACK that does not fit would be lost). ENOENT (already
   * gone) is not a failure; any other error is, named with its errno.
   */
  deleteAll(family: IPFamily, entries: readonly ConntrackEntry[]): Promise<DeleteResult> {
    const result: DeleteResult = { deleted: 0, alreadyGone: 0 };
    if (entries.length === 0) return Promise.resolve(result);
    const window = Math.max(BATCH, Math.floor(this.sock.getRecvBufferSize() / ACK_TRUESIZE));
    const firstSeq = this.seq + 1;
    this.seq += entries.length;
    const examples: string[] = [];
    let failed = 0;
    let sent = 0;
    let answered = 0;
    return new Promise((resolve, reject) => {
      const pump = () => {
        while (sent < entries.length && sent - answered + BATCH <= window) {
          const n = Math.min(BATCH, entries.length - sent);
          // One datagram of n messages: the kernel handles them in order within one sendmsg.
          const batch = entries.slice(sent, sent + n).map((e, i) => encodeDelete(family, e, firstSeq + sent + i, this.portId));
          sent += n;
          this.sock.send(batch, undefined, (err) => err && this.onFailure(err));
        }
      };
      this.onFailure = reject;
      this.onReplies = (replies) => {
        for (const r of replies) {
          if (r.kind !== 'error' || r.seq < firstSeq || r.seq >= firstSeq + entries.length) continue;
          answered++;
          if (r.errno === 0) result.deleted++;
          else if (errnoName(r.errno) === 'ENOENT') result.alreadyGone++;
          else if (++failed <= 3) examples.push(`${describe(entries[r.seq - firstSeq])}: ${errnoName(r.errno)}`);
        }
        if (answered === entries.length) {
          if (failed) reject(new KprError('CONNTRACK', `${failed} of ${entries.length} conntrack deletes failed, e.g. ${examples.join('; ')}`));
          else resolve(result);
        } else {
          pump();
        }
      };
      pump();
    });
  }
}

const describe = (e: ConntrackEntry | undefined) => (e ? `udp ${e.src}:${e.sport} -> ${e.dst}:${e.dport}` : 'entry');
