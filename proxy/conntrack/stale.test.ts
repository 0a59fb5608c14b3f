import { describe, expect, it } from 'vitest';
import { deleteFilters, parseConntrack, staleEntries, udpDestinations } from './stale.ts';
import type { Endpoint, ProxySnapshot, ServicePort } from '../model/types.ts';
import { endpoint, servicePort } from '../../test/support/proxy-model.ts';

const sp = servicePort('ns', 'dns', { portName: 'dns', protocol: 'UDP', clusterIP: '10.96.0.10', port: 53, nodePort: 30053, externalIPs: ['198.51.100.1'] });
const ep = (ip: string) => endpoint(ip, { port: 5353 });

const dump = parseConntrack([
  // To the live endpoint: kept.
  'udp      17 29 src=10.244.1.10 dst=10.96.0.10 sport=40000 dport=53 src=10.244.1.21 dst=10.244.1.10 sport=5353 dport=40000 mark=0 use=1',
  // To an endpoint that is gone: stale.
  'udp      17 29 src=10.244.1.10 dst=10.96.0.10 sport=40001 dport=53 src=10.244.1.99 dst=10.244.1.10 sport=5353 dport=40001 mark=0 use=1',
  // Never DNATed (sent while the Service had no endpoint): stale.
  'udp      17 29 src=10.244.1.10 dst=10.96.0.10 sport=40002 dport=53 [UNREPLIED] src=10.96.0.10 dst=10.244.1.10 sport=53 dport=40002 mark=0 zone=2 use=1',
  // NodePort on a node address, to a gone endpoint: stale.
  'udp      17 29 src=192.0.2.10 dst=192.0.2.1 sport=40003 dport=30053 src=10.244.1.99 dst=192.0.2.1 sport=5353 dport=40003 mark=0 use=1',
  // Same port on an address that is not the node's: not ours.
  'udp      17 29 src=192.0.2.10 dst=203.0.113.9 sport=40004 dport=30053 src=203.0.113.9 dst=192.0.2.10 sport=30053 dport=40004 mark=0 use=1',
  // externalIP to a gone endpoint: stale.
  'udp      17 29 src=192.0.2.10 dst=198.51.100.1 sport=40005 dport=53 src=10.244.1.98 dst=192.0.2.10 sport=5353 dport=40005 mark=0 use=1',
  // Unrelated traffic.
  'udp      17 29 src=10.244.1.10 dst=8.8.8.8 sport=40006 dport=53 src=8.8.8.8 dst=10.244.1.10 sport=53 dport=40006 mark=0 use=1',
  // Another gone-endpoint entry of the same Service (same delete filter as 40001).
  'udp      17 29 src=10.244.1.11 dst=10.96.0.10 sport=40007 dport=53 src=10.244.1.99 dst=10.244.1.11 sport=5353 dport=40007 mark=0 use=1',
].join('\n'));

const snapshot = (eps: Endpoint[], services = [sp]): ProxySnapshot => ({
  family: 4,
  node: { name: 'n', zone: '' },
  services: new Map(services.map((s) => [s.key, s])),
  endpoints: new Map([[sp.key, eps]]),
});
const request = (s: ProxySnapshot, removed: ServicePort[] = []) => ({ family: 4 as const, destinations: udpDestinations(s, removed), localAddresses: new Set(['192.0.2.1']) });
const sports = (entries: { sport: number }[]) => entries.map((e) => e.sport);

describe('stale UDP conntrack entries', () => {
  it('parses both tuples of a conntrack -L line', () => {
    expect(dump[2]).toEqual({ proto: 17, src: '10.244.1.10', dst: '10.96.0.10', sport: 40002, dport: 53, replySrc: '10.96.0.10', zone: 2 });
  });

  it('picks entries whose Service destination leads to a non-serving endpoint, and nothing else', () => {
    expect(sports(staleEntries(dump, request(snapshot([ep('10.244.1.21')]))))).toEqual([40001, 40002, 40003, 40005, 40007]);
  });

  it('treats every entry as stale when the Service has no endpoint left, or is gone', () => {
    expect(sports(staleEntries(dump, request(snapshot([]))))).toEqual([40000, 40001, 40002, 40003, 40005, 40007]);
    expect(sports(staleEntries(dump, request(snapshot([], []), [sp])))).toEqual([40000, 40001, 40002, 40003, 40005, 40007]);
  });

  it('keeps entries to terminating endpoints that still serve', () => {
    const term = { ...ep('10.244.1.99'), ready: false, serving: true, terminating: true };
    expect(sports(staleEntries(dump, request(snapshot([ep('10.244.1.21'), term]))))).toEqual([40002, 40005]);
  });

  it('without the addon, deletes with one conntrack -D filter per destination and reply source', () => {
    const filters = deleteFilters(staleEntries(dump, request(snapshot([ep('10.244.1.21')]))), 4);
    expect(filters.map((f) => f.join(' '))).toEqual([
      '-D -p udp -f ipv4 --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.244.1.99',
      '-D -p udp -f ipv4 --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.96.0.10',
      '-D -p udp -f ipv4 --orig-dst 192.0.2.1 --orig-port-dst 30053 --reply-src 10.244.1.99',
      '-D -p udp -f ipv4 --orig-dst 198.51.100.1 --orig-port-dst 53 --reply-src 10.244.1.98',
    ]);
  });
});
