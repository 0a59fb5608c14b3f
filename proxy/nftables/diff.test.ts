import { describe, expect, it } from 'vitest';
import type { ProxySnapshot, ServicePort, Endpoint } from '../model/types.ts';
import { endpoint, rulesConfig, servicePort, snapshot } from '../../test/support/proxy-model.ts';
import { Planner } from './planner.ts';
import { parseKernelTable } from './kernel-table.ts';

const config = rulesConfig({ nodePortIPs: ['192.168.0.2'] });
const web = servicePort('ns1', 'web', { clusterIP: '10.96.0.10' });
const api = servicePort('ns1', 'api', { clusterIP: '10.96.0.20' });
const eps = (...ips: string[]) => ips.map((ip) => endpoint(ip));

/** A planner that has synced `base`; returns the text of the partial transaction after `next`. */
function step(base: [ServicePort, readonly Endpoint[]][], next: [ServicePort, readonly Endpoint[]][], changed: string[]): string[] {
  const p = new Planner();
  p.update(snapshot(base), config, undefined);
  p.full(undefined);
  const snap: ProxySnapshot = snapshot(next);
  p.update(snap, config, new Set(changed));
  return p.partial().render().split('\n').filter(Boolean);
}

describe('nftables partial diff', () => {
  it('a no-op sync is 0 operations', () => {
    const p = new Planner();
    const snap = snapshot([[web, eps('10.244.1.5')]]);
    p.update(snap, config, undefined);
    p.full(undefined);
    p.update(snap, config, new Set([web.key]));
    expect(p.partial().size).toBe(0);
    p.update(snap, config, new Set());
    expect(p.partial().size).toBe(0);
  });

  it('adding a Service adds only its elements', () => {
    expect(step([[web, eps('10.244.1.5')]], [[web, eps('10.244.1.5')], [api, eps('10.244.2.1', '10.244.2.2')]], [api.key])).toEqual([
      'add chain ip kpr dnat-cluster-tcp-2',
      'add rule ip kpr dnat-cluster-tcp-2 dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 2 map @cluster-endpoints-tcp',
      'add element ip kpr cluster-dispatch { 10.96.0.20 . tcp . 80 : goto dnat-cluster-tcp-2 }',
      'add element ip kpr cluster-endpoints-tcp { 10.96.0.20 . tcp . 80 . 0 : 10.244.2.1 . 8080 , 10.96.0.20 . tcp . 80 . 1 : 10.244.2.2 . 8080 }',
      'add element ip kpr cluster-ips { 10.96.0.20 }',
      'add element ip kpr hairpin { 10.244.2.1 . 10.244.2.1 , 10.244.2.2 . 10.244.2.2 }',
      'add element ip kpr service-ips { 10.96.0.20 . tcp . 80 comment "ns1/api:p80" : goto internal-cluster }',
    ]);
  });

  it('removing a Service deletes its elements and its unused DNAT chain', () => {
    expect(step([[web, eps('10.244.1.5')], [api, eps('10.244.2.1', '10.244.2.2')]], [[web, eps('10.244.1.5')]], [api.key])).toEqual([
      'delete element ip kpr cluster-dispatch { 10.96.0.20 . tcp . 80 }',
      'delete element ip kpr cluster-endpoints-tcp { 10.96.0.20 . tcp . 80 . 0 , 10.96.0.20 . tcp . 80 . 1 }',
      'delete element ip kpr cluster-ips { 10.96.0.20 }',
      'delete element ip kpr hairpin { 10.244.2.1 . 10.244.2.1 , 10.244.2.2 . 10.244.2.2 }',
      'delete element ip kpr service-ips { 10.96.0.20 . tcp . 80 }',
      'flush chain ip kpr dnat-cluster-tcp-2',
      'delete chain ip kpr dnat-cluster-tcp-2',
    ]);
  });

  it('replacing one endpoint rewrites one slot', () => {
    expect(step([[web, eps('10.244.1.5', '10.244.1.6', '10.244.1.7')]], [[web, eps('10.244.1.5', '10.244.1.8', '10.244.1.7')]], [web.key])).toEqual([
      'delete element ip kpr cluster-endpoints-tcp { 10.96.0.10 . tcp . 80 . 1 }',
      'delete element ip kpr hairpin { 10.244.1.6 . 10.244.1.6 }',
      'add element ip kpr cluster-endpoints-tcp { 10.96.0.10 . tcp . 80 . 1 : 10.244.1.8 . 8080 }',
      'add element ip kpr hairpin { 10.244.1.8 . 10.244.1.8 }',
    ]);
  });

  it('removing an endpoint moves the last one into its slot and switches the DNAT chain', () => {
    const lines = step([[web, eps('10.244.1.5', '10.244.1.6', '10.244.1.7')], [api, eps('10.244.2.1', '10.244.2.2', '10.244.2.3')]],
      [[web, eps('10.244.1.6', '10.244.1.7')], [api, eps('10.244.2.1', '10.244.2.2', '10.244.2.3')]], [web.key]);
    expect(lines).toEqual([
      'add chain ip kpr dnat-cluster-tcp-2',
      'delete element ip kpr cluster-dispatch { 10.96.0.10 . tcp . 80 }',
      'delete element ip kpr cluster-endpoints-tcp { 10.96.0.10 . tcp . 80 . 0 , 10.96.0.10 . tcp . 80 . 2 }',
      'delete element ip kpr hairpin { 10.244.1.5 . 10.244.1.5 }',
      'add rule ip kpr dnat-cluster-tcp-2 dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 2 map @cluster-endpoints-tcp',
      'add element ip kpr cluster-dispatch { 10.96.0.10 . tcp . 80 : goto dnat-cluster-tcp-2 }',
      'add element ip kpr cluster-endpoints-tcp { 10.96.0.10 . tcp . 80 . 0 : 10.244.1.7 . 8080 }',
    ]);
  });

  it('last endpoint gone: the Service turns to REJECT', () => {
    const lines = step([[web, eps('10.244.1.5')]], [[web, []]], [web.key]);
    expect(lines).toContain('add element ip kpr no-endpoint-services { 10.96.0.10 . tcp . 80 comment "ns1/web:p80" : goto reject-chain }');
    expect(lines).toContain('delete element ip kpr service-ips { 10.96.0.10 . tcp . 80 }');
    expect(lines).not.toContain('delete element ip kpr cluster-ips { 10.96.0.10 }');
  });
});

describe('nftables full diff against the kernel listing', () => {
  it('flushes and re-adds every element of the existing sets, creates the missing ones, deletes stray objects', () => {
    const p = new Planner();
    const dns = servicePort('ns1', 'dns', { clusterIP: '10.96.0.53', affinityTimeoutSeconds: 60 });
    p.update(snapshot([[web, eps('10.244.1.5')], [dns, eps('10.244.1.53')]]), config, undefined);
    // A terse listing: names only (elements are never listed).
    // A terse listing of chains, sets and maps: names only (elements are never listed); other tables' objects ignored.
    const listing = [
      'table ip kpr {', '\tchain services {', '\t\ttype nat hook prerouting priority dstnat; policy accept;', '\t}', '\tchain dnat-cluster-tcp-7 {', '\t}', '}',
      'table ip other {', '\tchain x {', '\t}', '\tset y {', '\t\ttype ipv4_addr', '\t}', '}',
      'table ip kpr {', '\tset cluster-ips {', '\t\ttype ipv4_addr', '\t}', '}',
      'table ip kpr {', '\tmap service-ips {', '\t\ttype ipv4_addr . inet_proto . inet_service : verdict', '\t}', '\tmap stray {', '\t\ttype ipv4_addr : verdict', '\t}', '}', '',
    ].join('\n');
    const lines = p.full(parseKernelTable(listing, 'kpr')).render().split('\n');
    expect(lines[0]).toBe('add table ip kpr');
    expect(lines).toContain('flush set ip kpr cluster-ips');
    expect(lines).toContain('flush map ip kpr service-ips');
    expect(lines).toContain('add element ip kpr cluster-ips { 10.96.0.53 , 10.96.0.10 }');
    expect(lines).toContain('add element ip kpr service-ips { 10.96.0.53 . tcp . 80 comment "ns1/dns:p80" : goto internal-cluster , 10.96.0.10 . tcp . 80 comment "ns1/web:p80" : goto internal-cluster }');
    // Sets the kernel lacks are created, not flushed; the dynamic affinity set neither flushed nor written.
    expect(lines.some((l) => l.startsWith('add map ip kpr cluster-endpoints-tcp '))).toBe(true);
    expect(lines.some((l) => l.startsWith('flush map ip kpr cluster-endpoints-tcp'))).toBe(false);
    expect(lines.some((l) => /^(flush|add element) .* affinity-/.test(l))).toBe(false);
    expect(lines).toContain('flush chain ip kpr services');
    expect(lines).not.toContain('add chain ip kpr services');
    expect(lines.slice(-4)).toEqual(['flush chain ip kpr dnat-cluster-tcp-7', 'delete map ip kpr stray', 'delete chain ip kpr dnat-cluster-tcp-7', '']);
  });
});
