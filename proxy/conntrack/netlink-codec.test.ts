import { describe, expect, it } from 'vitest';
import { decodeReplies, encodeDelete, encodeDumpRequest, type ConntrackEntry } from './netlink-codec.ts';

// Bytes as the kernel (6.18) sent them, captured with entries inserted by `conntrack -I`.
// Fixtures are hex with `#` comments.
const hex = (s: string) => Buffer.from(s.replace(/#[^\n]*/g, '').replace(/\s+/g, ''), 'hex');
const PORT = 0x080067bd;

// Original tuple 10.0.0.1:1000 -> 10.96.0.10:53 as the kernel nests it: also what a delete must carry.
const V4_ORIG_TUPLE = `
  34000180                      # CTA_TUPLE_ORIG | NLA_F_NESTED, 52 bytes
    14000180                    # CTA_TUPLE_IP | NLA_F_NESTED
      08000100 0a000001         # CTA_IP_V4_SRC 10.0.0.1
      08000200 0a60000a         # CTA_IP_V4_DST 10.96.0.10
    1c000280                    # CTA_TUPLE_PROTO | NLA_F_NESTED
      05000100 11000000         # CTA_PROTO_NUM 17, padded
      06000200 03e80000         # CTA_PROTO_SRC_PORT 1000, padded
      06000300 00350000         # CTA_PROTO_DST_PORT 53, padded
`;

const V4_DUMP = hex(`
  c0000000 0001 2200 07000000 bd670008   # nlmsghdr: IPCTNL_MSG_CT_NEW, NLM_F_MULTI|NLM_F_DUMP_FILTERED, seq 7
  02000000                               # nfgenmsg AF_INET
  ${V4_ORIG_TUPLE}
  34000280                               # CTA_TUPLE_REPLY: 10.244.0.5:5353 -> 10.0.0.1:1000
    14000180 08000100 0af40005 08000200 0a000001
    1c000280 05000100 11000000 06000200 14e90000 06000300 03e80000
  08000300 00000008                      # CTA_STATUS
  08000800 00000000                      # CTA_MARK
  08000c00 2ecee1a0                      # CTA_ID
  08000b00 00000001                      # CTA_USE
  08000700 00000257                      # CTA_TIMEOUT
  1c001880 08000100 00000000 08000200 00000000 08000300 00000000   # CTA_SYNPROXY, ignored
  14000000 0300 0200 07000000 bd670008 00000000                    # NLMSG_DONE, seq 7
`);

// IPv6 entry [fd00::1]:1000 -> [fd00:96::a]:53, reply from fd00:244::5, in zone 3.
const V6_DUMP = hex(`
  f8000000 0001 2200 07000000 db670008 0a000000
  4c000180 2c000180 14000300 fd000000000000000000000000000001 14000400 fd00009600000000000000000000000a
           1c000280 05000100 11000000 06000200 03e80000 06000300 00350000
  4c000280 2c000180 14000300 fd000244000000000000000000000005 14000400 fd000000000000000000000000000001
           1c000280 05000100 11000000 06000200 14e90000 06000300 03e80000
  06001200 00030000                      # CTA_ZONE 3
  08000300 00000008 08000800 00000000
  08000c00 9a908bb2                      # CTA_ID
  08000b00 00000001 08000700 00000257
  1c001880 08000100 00000000 08000200 00000000 08000300 00000000
`);

describe('ctnetlink codec', () => {
  it('asks for a dump of one family, filtered to UDP', () => {
    expect(encodeDumpRequest(4, 7, PORT).toString('hex')).toBe(hex(`
      30000000 0101 0103 07000000 bd670008   # nlmsghdr: IPCTNL_MSG_CT_GET, NLM_F_REQUEST|NLM_F_DUMP
      02000000                               # nfgenmsg AF_INET, version 0
      10000180 0c000280 05000100 11000000    # CTA_TUPLE_ORIG { CTA_TUPLE_PROTO { CTA_PROTO_NUM 17 } }
      0c001980 08000100 08000000             # CTA_FILTER { CTA_FILTER_ORIG_FLAGS: CTA_FILTER_F_CTA_PROTO_NUM }
    `).toString('hex'));
    expect(encodeDumpRequest(6, 7, PORT)[16]).toBe(10);
  });

  it('decodes an IPv4 entry (original tuple, reply source, id) and the end of the dump', () => {
    expect(decodeReplies(V4_DUMP)).toEqual([
      { kind: 'entry', seq: 7, entry: { proto: 17, src: '10.0.0.1', dst: '10.96.0.10', sport: 1000, dport: 53, replySrc: '10.244.0.5', zone: 0, id: 0x2ecee1a0 } },
      { kind: 'done', seq: 7 },
    ]);
  });

  it('decodes an IPv6 entry in a zone', () => {
    expect(decodeReplies(V6_DUMP)).toEqual([
      { kind: 'entry', seq: 7, entry: { proto: 17, src: 'fd00::1', dst: 'fd00:96::a', sport: 1000, dport: 53, replySrc: 'fd00:244::5', zone: 3, id: 0x9a908bb2 } },
    ]);
  });

  it('deletes by the original tuple, byte for byte as the kernel dumps it, with the id when known', () => {
    const [entry] = decodeReplies(V4_DUMP).flatMap((r) => (r.kind === 'entry' ? [r.entry] : []));
    if (!entry) throw new Error('fixture has no entry');
    expect(encodeDelete(4, entry, 9, PORT).toString('hex')).toBe(hex(`
      50000000 0201 0500 09000000 bd670008   # nlmsghdr: IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST|NLM_F_ACK, seq 9
      02000000
      ${V4_ORIG_TUPLE}
      08000c00 2ecee1a0                      # CTA_ID
    `).toString('hex'));
    // Without an ACK asked for: NLM_F_REQUEST only.
    expect(encodeDelete(4, entry, 9, PORT, false).readUInt16LE(6)).toBe(0x1);
  });

  it('carries an IPv6 tuple and a zone, and refuses an address of the other family', () => {
    const e: ConntrackEntry = { proto: 17, src: 'fd00::1', dst: 'fd00:96::a', sport: 1000, dport: 53, replySrc: 'fd00:244::5', zone: 3 };
    expect(encodeDelete(6, e, 1, PORT).toString('hex')).toBe(hex(`
      68000000 0201 0500 01000000 bd670008 0a000000   # 104 bytes
      4c000180 2c000180 14000300 fd000000000000000000000000000001 14000400 fd00009600000000000000000000000a
               1c000280 05000100 11000000 06000200 03e80000 06000300 00350000
      06001200 00030000                      # CTA_ZONE 3
    `).toString('hex'));
    expect(() => encodeDelete(6, { ...e, src: '10.0.0.1' }, 1, PORT)).toThrow(/not an IPv6 address/);
  });

  it('decodes ACKs and errors with the sequence number they answer', () => {
    // Replies to two deletes of the same entry in one sendmsg: an ACK, then -ENOENT echoing the request.
    const replies = hex(`
      24000000 0200 0001 09000000 e3700008 00000000 48000000020105000900000 0e3700008
      5c000000 0200 0000 0a000000 e3700008 feffffff
      48000000020105000a000000e3700008020000003400018014000180080001000a000001080002000a60000a1c00028005000100110000000600020003e800000600030000350000
    `);
    expect(decodeReplies(replies)).toEqual([
      { kind: 'error', seq: 9, errno: 0 },
      { kind: 'error', seq: 10, errno: 2 },
    ]);
  });

  it('rejects a message whose length runs past the datagram', () => {
    expect(() => decodeReplies(V4_DUMP.subarray(0, 100))).toThrow(/malformed netlink message/);
  });
});
