import { describe, expect, it } from 'vitest';
import { formatJson, formatText } from './format.ts';
import type { Inspection, View } from './model.ts';

const iptables: View = {
  mode: 'iptables',
  family: 4,
  nodePortAddresses: 'local addresses',
  frontends: [
    { protocol: 'tcp', address: '10.96.0.10', port: 80, kind: 'ClusterIP', service: 'default/web:http', policy: 'Cluster', masquerade: 'src != 10.244.0.0/16',
      backends: [{ address: '10.244.1.5', port: 8080, probability: 0.5 }, { address: '10.244.2.7', port: 8080, probability: 0.5 }] },
    { protocol: 'udp', address: '10.96.0.20', port: 53, kind: 'ClusterIP', service: 'default/empty:dns', verdict: 'REJECT', reason: 'no endpoints', backends: [] },
    { protocol: 'tcp', address: '198.51.100.20', port: 80, kind: 'LoadBalancer', service: 'default/lb:http', policy: 'Local', affinitySeconds: 10800,
      masquerade: 'src-type local', sourceRanges: ['192.0.2.0/24'],
      backends: [{ address: '10.244.1.5', port: 8080, probability: 1 }], shortCircuit: [{ address: '10.244.2.7', port: 8080, probability: 1 }] },
  ],
};
const ipvs: View = {
  mode: 'ipvs', family: 6,
  frontends: [{ protocol: 'tcp', address: 'fd00:96::10', port: 80, kind: 'ClusterIP', scheduler: 'rr', backends: [{ address: 'fd00:10::5', port: 8080, weight: 1 }] }],
};

describe('kpr inspect output', () => {
  it('prints an ipvsadm -Ln style table per mode and family', () => {
    const ins: Inspection = { found: [{ mode: 'iptables', where: 'KUBE-SERVICES in IPv4 nat' }, { mode: 'ipvs', where: 'IPv6 virtual servers' }], views: [iptables, ipvs] };
    expect(formatText(ins)).toBe(`found: iptables (KUBE-SERVICES in IPv4 nat), ipvs (IPv6 virtual servers)
warning: more than one mode has kpr objects on this node; only one should

iptables IPv4 — NodePorts (*) on local addresses
Prot LocalAddress:Port   Kind          Policy   Affinity  Masquerade            Service
  -> RemoteAddress:Port  Prob
TCP  10.96.0.10:80       ClusterIP     Cluster  -         src != 10.244.0.0/16  default/web:http
  -> 10.244.1.5:8080     0.5000
  -> 10.244.2.7:8080     0.5000
UDP  10.96.0.20:53       ClusterIP     -        -         -                     default/empty:dns  REJECT (no endpoints)
TCP  198.51.100.20:80    LoadBalancer  Local    10800s    src-type local        default/lb:http
     only from 192.0.2.0/24; others DROP
  -> 10.244.1.5:8080     1.0000
  => 10.244.2.7:8080     1.0000  pods and node (short-circuit)

ipvs IPv6
Prot LocalAddress:Port   Kind       Policy  Affinity  Masquerade  Sched  Service
  -> RemoteAddress:Port  Weight
TCP  [fd00:96::10]:80    ClusterIP  -       -         -           rr     -
  -> [fd00:10::5]:8080   1
`);
  });

  it('prints JSON that reads back as the same inspection', () => {
    const ins: Inspection = { found: [{ mode: 'iptables', where: 'x' }], views: [iptables] };
    expect(JSON.parse(formatJson(ins))).toEqual(ins);
  });
});
