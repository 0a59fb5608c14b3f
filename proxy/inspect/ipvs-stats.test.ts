import { describe, expect, it } from 'vitest';
import { parseIpvsStats, withIpvsCounters } from './ipvs-stats.ts';
import type { View } from './model.ts';

const TEXT = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  10.96.0.10:80                       6       30       18     1800     1500
  -> 10.244.1.21:8080                    2       10        6      600      500
  -> 10.244.2.31:8080                    4       20       12     1200     1000
FWM  7                                   1        1        1       60       60
  -> 10.244.9.9:8080                     1        1        1       60       60
UDP  [fd00:96::10]:53                    1        2        2      120      160
  -> [fd00:10:244:1::21]:5353            1        2        2      120      160
`;

describe('IPVS counters for inspect --stats', () => {
  it('reads packets and bytes of both directions per virtual and real server (firewall-mark services skipped)', () => {
    const c = parseIpvsStats(TEXT);
    expect(Object.fromEntries(c)).toEqual({
      'tcp/10.96.0.10:80': { packets: 48, bytes: 3300 },
      'tcp/10.96.0.10:80/10.244.1.21:8080': { packets: 16, bytes: 1100 },
      'tcp/10.96.0.10:80/10.244.2.31:8080': { packets: 32, bytes: 2200 },
      'udp/[fd00:96::10]:53': { packets: 4, bytes: 280 },
      'udp/[fd00:96::10]:53/[fd00:10:244:1::21]:5353': { packets: 4, bytes: 280 },
    });
  });

  it('puts them on the counted view', () => {
    const view: View = { mode: 'ipvs', family: 4, frontends: [{ protocol: 'tcp', address: '10.96.0.10', port: 80, kind: 'ClusterIP', stats: { active: 6, total: 6 },
      backends: [{ address: '10.244.1.21', port: 8080, stats: { active: 2, total: 2 } }] }] };
    const out = withIpvsCounters(view, parseIpvsStats(TEXT));
    expect(out.frontends[0]?.stats).toEqual({ active: 6, total: 6, packets: 48, bytes: 3300 });
    expect(out.frontends[0]?.backends[0]?.stats).toEqual({ active: 2, total: 2, packets: 16, bytes: 1100 });
  });
});
