import { describe, expect, it } from 'vitest';
import { parseConntrackList, withRates, withStats } from './stats.ts';
import type { View } from './model.ts';

const LINES = [
  'tcp      6 431999 ESTABLISHED src=10.244.1.10 dst=10.96.0.10 sport=40000 dport=80 packets=5 bytes=300 src=10.244.1.21 dst=10.244.1.10 sport=8080 dport=40000 packets=4 bytes=500 [ASSURED] mark=0 use=1 id=11',
  'tcp      6 117 TIME_WAIT src=10.244.1.10 dst=10.96.0.10 sport=40001 dport=80 src=10.244.2.31 dst=10.244.1.10 sport=8080 dport=40001 [ASSURED] mark=0 use=1 id=12',
  'udp      17 29 src=10.244.1.10 dst=10.96.0.10 sport=5000 dport=53 [UNREPLIED] src=10.244.1.22 dst=10.244.1.10 sport=5353 dport=5000 mark=0 use=1 id=13',
  'tcp      6 100 ESTABLISHED src=192.0.2.10 dst=192.0.2.1 sport=1 dport=30080 src=10.244.2.31 dst=192.0.2.1 sport=8080 dport=1 id=14',
  'tcp      6 100 ESTABLISHED src=192.0.2.10 dst=192.0.2.1 sport=2 dport=22 src=192.0.2.1 dst=192.0.2.10 sport=22 dport=2 id=15',
  'icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=1 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=1 mark=0 use=1',
].join('\n');

const view: View = {
  mode: 'nftables', family: 4, frontends: [
    { protocol: 'tcp', address: '10.96.0.10', port: 80, kind: 'ClusterIP', backends: [{ address: '10.244.1.21', port: 8080 }, { address: '10.244.2.31', port: 8080 }] },
    { protocol: 'udp', address: '10.96.0.10', port: 53, kind: 'ClusterIP', backends: [{ address: '10.244.1.22', port: 5353 }] },
    { protocol: 'tcp', address: '*', port: 30080, kind: 'NodePort', backends: [{ address: '10.244.2.31', port: 8080 }] },
  ],
};

describe('inspect --stats from conntrack', () => {
  it('parses conntrack -L lines of TCP, UDP and SCTP (other protocols skipped)', () => {
    const c = parseConntrackList(LINES);
    expect(c).toHaveLength(5);
    expect(c[0]).toEqual({ id: 11, protocol: 'tcp', state: 'ESTABLISHED', src: '10.244.1.10', dst: '10.96.0.10', dport: 80, replySrc: '10.244.1.21', replySport: 8080, packets: 9, bytes: 800 });
    expect(c[2]).toMatchObject({ protocol: 'udp', replySrc: '10.244.1.22' });
    expect(c[2]?.state).toBeUndefined();
  });

  it('counts per frontend and backend; a NodePort on any address; connections not DNATed are not counted', () => {
    const s = withStats(view, parseConntrackList(LINES));
    const [web, dns, np] = s.frontends;
    expect(web?.stats).toEqual({ active: 1, total: 2, packets: 9, bytes: 800 });
    expect(web?.backends.map((b) => b.stats)).toEqual([{ active: 1, total: 1, packets: 9, bytes: 800 }, { active: 0, total: 1 }]);
    expect(dns?.stats).toEqual({ active: 1, total: 1 });
    expect(np?.stats).toEqual({ active: 1, total: 1 });
  });

  it('rates: new ids and what each entry gained, per second', () => {
    const after = parseConntrackList(LINES);
    const before = after.filter((c) => c.id === 11).map((c) => ({ ...c, packets: 1, bytes: 100 }));
    const r = withRates(view, before, after, 2);
    expect(r.frontends[0]?.rates).toEqual({ connections: 0.5, packets: 4, bytes: 350 });
  });
});
