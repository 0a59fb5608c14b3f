// The pod's messages against what iproute2 6.1 sends for the same command (captured
// with `strace -e trace=sendmsg -xx ip -n NS <command>`, the link at index 3): type,
// flags beside REQUEST|ACK, and payload, byte for byte.
import { describe, expect, it } from 'vitest';
import { describeOp, type LinkOp } from './link-ops.ts';
import { encodeOp, message } from './rtnetlink-msg.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const index = (dev: string) => (dev === 'a0' ? 3 : 0);
const noNetns = (): number => { throw new Error('no netns expected'); };

const RTM_NEWADDR = 0x14;
const RTM_NEWROUTE = 0x18;
const CREATE_EXCL = 0x600;

const cases: Array<[LinkOp, number, number, string]> = [
  [{ op: 'add-addr', dev: 'a0', cidr: '10.244.1.5/24', nodad: false }, RTM_NEWADDR, CREATE_EXCL,
    '02180000 03000000 08000200 0af40105 08000100 0af40105'],
  [{ op: 'add-addr', dev: 'a0', cidr: 'fd00:244:1::5/64', nodad: true }, RTM_NEWADDR, CREATE_EXCL,
    '0a400200 03000000 14000200 fd000244000100000000000000000005 14000100 fd000244000100000000000000000005'],
  [{ op: 'add-route', dst: '0.0.0.0/0', gw: '169.254.1.1', dev: 'a0', onlink: true, mtu: 1400 }, RTM_NEWROUTE, CREATE_EXCL,
    '02000000 fe030001 04000000 08000100 00000000 08000500 a9fe0101 08000400 03000000 0c000800 08000200 78050000'],
  [{ op: 'add-route', dst: '::/0', gw: 'fe80::1', dev: 'a0', onlink: false }, RTM_NEWROUTE, CREATE_EXCL,
    '0a000000 fe030001 00000000 14000100 00000000000000000000000000000000 14000500 fe800000000000000000000000000001 08000400 03000000'],
  [{ op: 'add-route', dst: '10.96.0.0/12', dev: 'a0', onlink: false }, RTM_NEWROUTE, CREATE_EXCL,
    '020c0000 fe03fd01 00000000 08000100 0a600000 08000400 03000000'],
  // `addr replace` differs from `addr add` in the flags only (CREATE|REPLACE).
  [{ op: 'replace-addr', dev: 'a0', cidr: 'fd00:244:1::1/64', nodad: true }, RTM_NEWADDR, 0x500,
    '0a400200 03000000 14000200 fd000244000100000000000000000001 14000100 fd000244000100000000000000000001'],
];

describe('rtnetlink messages', () => {
  it.each(cases)('%j is what iproute2 sends', (op, type, flags, payload) => {
    const r = encodeOp(op, index, noNetns);
    expect({ type: r.type, flags: r.flags, payload: r.payload.toString('hex') }).toEqual({ type, flags, payload: hex(payload).toString('hex') });
  });

  it('frames a request with REQUEST|ACK, its length and sequence number', () => {
    const r = encodeOp({ op: 'add-route', dst: '10.96.0.0/12', dev: 'a0', onlink: false }, index, noNetns);
    const m = message(r, 7, true);
    expect(m.readUInt32LE(0)).toBe(m.length);
    expect(m.readUInt16LE(4)).toBe(RTM_NEWROUTE);
    expect(m.readUInt16LE(6)).toBe(0x605);
    expect(m.readUInt32LE(8)).toBe(7);
    expect(m.subarray(16).equals(r.payload)).toBe(true);
  });

  it('reads as the ip command for errors and the fallback', () => {
    expect(cases.map(([op]) => describeOp(op))).toEqual([
      'addr add 10.244.1.5/24 dev a0',
      'addr add fd00:244:1::5/64 dev a0 nodad',
      'route add 0.0.0.0/0 via 169.254.1.1 dev a0 onlink mtu 1400',
      'route add ::/0 via fe80::1 dev a0',
      'route add 10.96.0.0/12 dev a0',
      'addr replace fd00:244:1::1/64 dev a0 nodad',
    ]);
  });

  it('refuses what is no address', () => {
    expect(() => encodeOp({ op: 'add-route', dst: '10.96.0.0/12', gw: 'gateway', dev: 'a0', onlink: false }, index, noNetns)).toThrow('not an address: gateway');
    expect(() => encodeOp({ op: 'add-addr', dev: 'a0', cidr: '10.244.1.5', nodad: false }, index, noNetns)).toThrow('not an address with a prefix');
  });
});
