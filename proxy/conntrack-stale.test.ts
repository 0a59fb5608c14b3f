import { describe, expect, it } from 'vitest';
import { parseConntrack, staleDeletes, udpDestinations } from './conntrack.ts';
import type { ProxySnapshot, ServicePort } from './model/types.ts';

const sp: ServicePort = {
  key: 'ns/dns:dns/UDP', namespace: 'ns', name: 'dns', portName: 'dns', servicePortName: 'ns/dns:dns', protocol: 'UDP',
  clusterIP: '10.96.0.10', port: 53, nodePort: 30053, externalIPs: ['198.51.100.1'], loadBalancerVIPs: [], loadBalancerSourceRanges: [],
  affinityTimeoutSeconds: 0, externalPolicyLocal: false, internalPolicyLocal: false, healthCheckNodePort: 0,
};
const ep = (ip: string, serving = true) => ({ ip, port: 5353, isLocal: false, ready: serving, serving, terminating: !serving, zoneHints: [], nodeHints: [] });

const dump = [
  // To the live endpoint: kept.
  'udp      17 29 src=10.244.1.10 dst=10.96.0.10 sport=40000 dport=53 src=10.244.1.21 dst=10.244.1.10 sport=5353 dport=40000 mark=0 use=1',
  // To an endpoint that is gone: stale.
  'udp      17 29 src=10.244.1.10 dst=10.96.0.10 sport=40001 dport=53 src=10.244.1.99 dst=10.244.1.10 sport=5353 dport=40001 mark=0 use=1',
  // Never DNATed (sent while the Service had no endpoint): stale.
  'udp      17 29 src=10.244.1.10 dst=10.96.0.10 sport=40002 dport=53 [UNREPLIED] src=10.96.0.10 dst=10.244.1.10 sport=53 dport=40002 mark=0 use=1',
  // NodePort on a node address, to a gone endpoint: stale.
  'udp      17 29 src=192.0.2.10 dst=192.0.2.1 sport=40003 dport=30053 src=10.244.1.99 dst=192.0.2.1 sport=5353 dport=40003 mark=0 use=1',
  // Same port on an address that is not the node's: not ours.
  'udp      17 29 src=192.0.2.10 dst=203.0.113.9 sport=40004 dport=30053 src=203.0.113.9 dst=192.0.2.10 sport=30053 dport=40004 mark=0 use=1',
  // externalIP to a gone endpoint: stale.
  'udp      17 29 src=192.0.2.10 dst=198.51.100.1 sport=40005 dport=53 src=10.244.1.98 dst=192.0.2.10 sport=5353 dport=40005 mark=0 use=1',
  // Unrelated traffic.
  'udp      17 29 src=10.244.1.10 dst=8.8.8.8 sport=40006 dport=53 src=8.8.8.8 dst=10.244.1.10 sport=53 dport=40006 mark=0 use=1',
].join('\n');

const snapshot = (eps: ReturnType<typeof ep>[], services = [sp]): ProxySnapshot => ({
  family: 4,
  node: { name: 'n', zone: '' },
  services: new Map(services.map((s) => [s.key, s])),
  endpoints: new Map([[sp.key, eps]]),
});

describe('stale UDP conntrack entries', () => {
  it('parses both tuples', () => {
    expect(parseConntrack(dump)[2]).toEqual({ src: '10.244.1.10', dst: '10.96.0.10', sport: '40002', dport: '53', replySrc: '10.96.0.10' });
  });

  it('deletes entries whose Service destination leads to a non-serving endpoint, and nothing else', () => {
    const deletes = staleDeletes(parseConntrack(dump), udpDestinations(snapshot([ep('10.244.1.21')])), new Set(['192.0.2.1']), 4);
    expect(deletes.map((d) => /--sport (\d+)/.exec(d)?.[1])).toEqual(['40001', '40002', '40003', '40005']);
    expect(deletes[0]).toBe('-D -p udp -f ipv4 -s 10.244.1.10 -d 10.96.0.10 --sport 40001 --dport 53');
  });

  it('treats every entry as stale when the Service has no endpoint left, or is gone', () => {
    const none = staleDeletes(parseConntrack(dump), udpDestinations(snapshot([])), new Set(['192.0.2.1']), 4);
    expect(none).toHaveLength(5);
    const gone = staleDeletes(parseConntrack(dump), udpDestinations(snapshot([], []), [sp]), new Set(['192.0.2.1']), 4);
    expect(gone).toHaveLength(5);
  });

  it('keeps entries to terminating endpoints that still serve', () => {
    const term = { ...ep('10.244.1.99'), ready: false, serving: true, terminating: true };
    const deletes = staleDeletes(parseConntrack(dump), udpDestinations(snapshot([ep('10.244.1.21'), term])), new Set(['192.0.2.1']), 4);
    expect(deletes.map((d) => /--sport (\d+)/.exec(d)?.[1])).toEqual(['40002', '40005']);
  });
});
