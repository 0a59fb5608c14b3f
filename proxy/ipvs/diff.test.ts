import { describe, expect, it } from 'vitest';
import { diffIpvs, servicesNeedingCounts, tableAfter, type DiffOptions } from './diff.ts';
import { formatRestore } from './ipvsadm.ts';
import { rsKey, type IpvsProtocol, type RealServer, type VirtualServer } from './types.ts';

const rs = (address: string, weight = 1): RealServer => ({ address, port: 8080, weight, forward: 'masq' });
const vs = (address: string, servers: RealServer[], more: Partial<VirtualServer> = {}): VirtualServer => ({
  protocol: 'tcp' as IpvsProtocol, address, port: 80, scheduler: 'rr', persistentTimeout: 0, flags: [], realServers: servers, ...more,
});
const all: DiffOptions = { owned: () => true, connections: new Map<string, number>() };
const lines = (current: VirtualServer[], desired: VirtualServer[], opts = all) =>
  formatRestore(diffIpvs(current, desired, opts).ops).trimEnd().split('\n').filter(Boolean);

describe('diffIpvs', () => {
  it('is empty when the table already matches', () => {
    const t = [vs('10.96.0.1', [rs('10.244.1.1'), rs('10.244.1.2')])];
    expect(lines(t, t)).toEqual([]);
  });

  it('adds a new service with its real servers right after it', () => {
    expect(lines([], [vs('10.96.0.1', [rs('10.244.1.1'), rs('10.244.1.2')])])).toEqual([
      '-A -t 10.96.0.1:80 -s rr',
      '-a -t 10.96.0.1:80 -r 10.244.1.1:8080 -m -w 1',
      '-a -t 10.96.0.1:80 -r 10.244.1.2:8080 -m -w 1',
    ]);
  });

  it('replacing every endpoint adds the new real servers before deleting the old ones', () => {
    expect(lines([vs('10.96.0.1', [rs('10.244.1.1')])], [vs('10.96.0.1', [rs('10.244.2.1')])])).toEqual([
      '-a -t 10.96.0.1:80 -r 10.244.2.1:8080 -m -w 1',
      '-d -t 10.96.0.1:80 -r 10.244.1.1:8080',
    ]);
  });

  it('edits services whose scheduler, persistence or flags changed, before touching real servers', () => {
    const cur = [vs('10.96.0.1', [rs('10.244.1.1')]), vs('10.96.0.2', []), vs('10.96.0.3', [])];
    const want = [
      vs('10.96.0.1', [rs('10.244.1.1'), rs('10.244.1.2')], { persistentTimeout: 10800 }),
      vs('10.96.0.2', [], { scheduler: 'mh', flags: ['mh-port'] }),
      vs('10.96.0.3', []),
    ];
    expect(lines(cur, want)).toEqual([
      '-E -t 10.96.0.1:80 -s rr -p 10800',
      '-E -t 10.96.0.2:80 -s mh -b mh-port',
      '-a -t 10.96.0.1:80 -r 10.244.1.2:8080 -m -w 1',
    ]);
  });

  it('restores weight 1 of a drained real server that is wanted again, and fixes its forwarding', () => {
    const cur = [vs('10.96.0.1', [rs('10.244.1.1', 0), { ...rs('10.244.1.2'), forward: 'gate' }])];
    expect(lines(cur, [vs('10.96.0.1', [rs('10.244.1.1'), rs('10.244.1.2')])])).toEqual([
      '-e -t 10.96.0.1:80 -r 10.244.1.1:8080 -m -w 1',
      '-e -t 10.96.0.1:80 -r 10.244.1.2:8080 -m -w 1',
    ]);
  });

  it('drains leaving TCP real servers with connections at weight 0, deletes idle ones and UDP ones', () => {
    const cur = [
      vs('10.96.0.1', [rs('10.244.1.1'), rs('10.244.1.2'), rs('10.244.1.3', 0), rs('10.244.1.9')]),
      vs('10.96.0.1', [rs('10.244.1.1'), rs('10.244.1.2')], { protocol: 'udp' }),
    ];
    const want = [vs('10.96.0.1', [rs('10.244.1.9')]), vs('10.96.0.1', [], { protocol: 'udp' })];
    const connections = new Map([
      ['tcp/10.96.0.1:80/10.244.1.1:8080', 2],
      ['tcp/10.96.0.1:80/10.244.1.3:8080', 1],
      ['udp/10.96.0.1:80/10.244.1.1:8080', 4],
    ]);
    const d = diffIpvs(cur, want, { owned: () => true, connections });
    expect(formatRestore(d.ops).trimEnd().split('\n')).toEqual([
      '-e -t 10.96.0.1:80 -r 10.244.1.1:8080 -m -w 0',
      '-d -t 10.96.0.1:80 -r 10.244.1.2:8080',
      '-d -u 10.96.0.1:80 -r 10.244.1.1:8080',
      '-d -u 10.96.0.1:80 -r 10.244.1.2:8080',
    ]);
    expect(d.draining.map(({ vs, rs }) => rsKey(vs, rs))).toEqual(['tcp/10.96.0.1:80/10.244.1.1:8080', 'tcp/10.96.0.1:80/10.244.1.3:8080']);
    // What the kernel holds afterwards: a later diff against it changes nothing.
    const after = tableAfter(want, d.draining);
    expect(after[0]?.realServers.map((r) => `${r.address} ${r.weight}`)).toEqual(['10.244.1.1 0', '10.244.1.3 0', '10.244.1.9 1']);
    expect(diffIpvs(after, want, { owned: () => true, connections }).ops).toEqual([]);
  });

  it('deletes stale services last, and only those it owns', () => {
    const cur = [vs('10.96.0.1', [rs('10.244.1.1')]), vs('10.96.0.2', [rs('10.244.1.1')]), vs('192.168.5.5', [])];
    const want = [vs('10.96.0.3', [rs('10.244.1.1')])];
    expect(lines(cur, want, { owned: (v) => !v.address.startsWith('192.168.'), connections: new Map() })).toEqual([
      '-A -t 10.96.0.3:80 -s rr',
      '-a -t 10.96.0.3:80 -r 10.244.1.1:8080 -m -w 1',
      '-D -t 10.96.0.1:80',
      '-D -t 10.96.0.2:80',
    ]);
  });
});

describe('servicesNeedingCounts', () => {
  it('lists the services a TCP or SCTP real server leaves while they stay', () => {
    const cur = [vs('10.96.0.1', [rs('10.244.1.1')]), vs('10.96.0.2', [rs('10.244.1.1')], { protocol: 'udp' }), vs('10.96.0.3', [rs('10.244.1.1')])];
    expect(servicesNeedingCounts(cur, [vs('10.96.0.2', [], { protocol: 'udp' })])).toEqual([]);
    expect(servicesNeedingCounts(cur, [vs('10.96.0.1', []), vs('10.96.0.3', [rs('10.244.1.1')])]).map((v) => v.address)).toEqual(['10.96.0.1']);
  });
});
