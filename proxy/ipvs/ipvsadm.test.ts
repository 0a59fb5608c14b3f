import { describe, expect, it } from 'vitest';
import { formatRestore, parseIpvsadmConnections, parseIpvsadmSave } from './ipvsadm.ts';
import type { VirtualServer } from './types.ts';

// Captured from ipvsadm v1.31 on Debian's 6.1 kernel (the IPVS VM).
const SAVE = `-A -t 10.0.0.1:80 -s rr -p 10800
-a -t 10.0.0.1:80 -r 10.1.0.2:8080 -m -w 1
-a -t 10.0.0.1:80 -r 10.1.0.1:8080 -m -w 0
-A -t 10.0.0.2:80 -s mh -b mh-port
-A -u 10.0.0.1:53 -s sed
-A --sctp-service 10.0.0.1:9 -s nq
-A -t [fd00::1]:80 -s lc -p 30
-a -t [fd00::1]:80 -r [fd00::2]:8080 -m -w 1
-A -f 100 -s rr
-a -f 100 -r 10.1.0.9:0 -g -w 1
`;

const LIST = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.0.0.1:80 rr persistent 10800
  -> 10.1.0.1:8080                Masq    0      3          2
  -> 10.1.0.2:8080                Masq    1      0          0
TCP  10.0.0.2:80 mh (mh-port)
FWM  100 rr
  -> 10.1.0.9:0                   Route   1      7          0
TCP  [fd00::1]:80 lc persistent 30
  -> [fd00::2]:8080               Masq    1      1          0
`;

describe('parseIpvsadmSave', () => {
  it('parses services, persistence, flags, protocols, IPv6 and real servers (sorted)', () => {
    const got = parseIpvsadmSave(SAVE);
    expect(got.map((vs) => `${vs.protocol} ${vs.address} ${vs.port} ${vs.scheduler} p=${vs.persistentTimeout} b=${vs.flags.join(',')}`)).toEqual([
      'tcp 10.0.0.1 80 rr p=10800 b=',
      'tcp 10.0.0.2 80 mh p=0 b=mh-port',
      'udp 10.0.0.1 53 sed p=0 b=',
      'sctp 10.0.0.1 9 nq p=0 b=',
      'tcp fd00::1 80 lc p=30 b=',
    ]);
    expect(got[0]?.realServers).toEqual([
      { address: '10.1.0.1', port: 8080, weight: 0, forward: 'masq' },
      { address: '10.1.0.2', port: 8080, weight: 1, forward: 'masq' },
    ]);
    expect(got[4]?.realServers).toEqual([{ address: 'fd00::2', port: 8080, weight: 1, forward: 'masq' }]);
  });

  it('round-trips through formatRestore', () => {
    const vss = parseIpvsadmSave(SAVE);
    const text = formatRestore(vss.flatMap((vs) => [{ op: 'add-service' as const, vs }, ...vs.realServers.map((rs) => ({ op: 'add-server' as const, vs, rs }))]));
    expect(parseIpvsadmSave(text)).toEqual(vss);
    expect(text.split('\n')[0]).toBe('-A -t 10.0.0.1:80 -s rr -p 10800');
    expect(text).toContain('-A --sctp-service 10.0.0.1:9 -s nq\n');
    expect(text).toContain('-a -t [fd00::1]:80 -r [fd00::2]:8080 -m -w 1\n');
  });

  it('rejects lines it does not understand, naming them', () => {
    expect(() => parseIpvsadmSave('-X nonsense\n')).toThrow(/-X nonsense/);
    expect(() => parseIpvsadmSave('-A -t 10.0.0.1:99999 -s rr\n')).toThrow(/10.0.0.1:99999/);
  });
});

describe('parseIpvsadmConnections', () => {
  it('sums active and inactive connections per real server, skipping firewall-mark services', () => {
    expect(Object.fromEntries(parseIpvsadmConnections(LIST))).toEqual({
      'tcp/10.0.0.1:80/10.1.0.1:8080': 5,
      'tcp/10.0.0.1:80/10.1.0.2:8080': 0,
      'tcp/[fd00::1]:80/[fd00::2]:8080': 1,
    });
  });
});

describe('formatRestore', () => {
  const vs: VirtualServer = { protocol: 'udp', address: '10.96.0.10', port: 53, scheduler: 'rr', persistentTimeout: 0, flags: [], realServers: [] };
  const rs = { address: '10.244.1.5', port: 53, weight: 0, forward: 'masq' as const };
  it('writes every verb', () => {
    expect(formatRestore([
      { op: 'edit-service', vs: { ...vs, persistentTimeout: 60 } },
      { op: 'edit-server', vs, rs },
      { op: 'delete-server', vs, rs },
      { op: 'delete-service', vs },
    ])).toBe(
      '-E -u 10.96.0.10:53 -s rr -p 60\n-e -u 10.96.0.10:53 -r 10.244.1.5:53 -m -w 0\n-d -u 10.96.0.10:53 -r 10.244.1.5:53\n-D -u 10.96.0.10:53\n',
    );
  });
});
