import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasIpvsServices, parseIpvsView, type IpvsListings } from './ipvs.ts';
import { frontend, pods } from '../../test/support/inspect.ts';

const data = (name: string) => readFileSync(join(import.meta.dirname, 'testdata', name), 'utf8');

/** The flow-table cluster as the IPVS mode left it in a kernel with IP_VS (testdata/generate-ipvs.ts). */
function listings(family: 4 | 6): IpvsListings {
  return { ipvsadm: data('flows.ipvsadm'), ipset: data('flows.ipset'), nat: data(`flows-ipv${family}.ipvs.iptables-save`) };
}

describe('IPVS inspection of the flow-table cluster', () => {
  for (const family of [4, 6] as const) {
    it(`shows virtual servers with kinds, policies, affinity and source ranges (IPv${family})`, () => {
      const view = parseIpvsView(listings(family), family);
      const ip = (v4: string, v6: string) => (family === 4 ? v4 : v6);
      const node = ip('192.0.2.1', 'fd00:192::1');
      const web = frontend(view, 'tcp', { ip4: '10.96.0.10', ip6: 'fd00:96::10' }, 80);
      expect(web).toMatchObject({ kind: 'ClusterIP', scheduler: 'rr', masquerade: ip('src != 10.244.0.0/16', 'src != fd00:10:244::/48') });
      expect(web.backends.map((b) => b.weight)).toEqual([1, 1, 1]);
      expect(Object.keys(pods(family, web.backends))).toEqual(['s1', 's2', 'r1']);
      expect(frontend(view, 'udp', { ip4: '10.96.0.20', ip6: 'fd00:96::20' }, 53)).toMatchObject({ verdict: 'REJECT', reason: 'no real servers', backends: [] });
      expect(frontend(view, 'tcp', { ip4: '10.96.0.70', ip6: 'fd00:96::70' }, 80)).toMatchObject({ affinitySeconds: 60 });
      expect(frontend(view, 'tcp', { ip4: '198.51.100.20', ip6: 'fd00:198::20' }, 80)).toMatchObject({
        kind: 'LoadBalancer', policy: 'Cluster', masquerade: 'all', sourceRanges: [ip('192.0.2.20', 'fd00:192::20')],
      });
      expect(frontend(view, 'tcp', { ip4: '198.51.100.10', ip6: 'fd00:198::10' }, 80)).toMatchObject({ kind: 'ExternalIP', policy: 'Cluster' });
      expect(frontend(view, 'tcp', node, 30080)).toMatchObject({ kind: 'NodePort', policy: 'Cluster', masquerade: 'all' });
      expect(frontend(view, 'tcp', node, 30081)).toMatchObject({ kind: 'NodePort', policy: 'Local', masquerade: 'none' });
      expect(frontend(view, 'tcp', { ip4: '198.51.100.11', ip6: 'fd00:198::11' }, 30080)).toMatchObject({ kind: 'ExternalIP', policy: 'Local', masquerade: 'none' });
      expect(frontend(view, 'tcp', node, 32001)).toMatchObject({ kind: 'LoadBalancer', policy: 'Local', sourceRanges: [ip('192.0.2.20', 'fd00:192::20')] });
      expect(view.frontends.filter((f) => f.kind === 'ClusterIP')).toHaveLength(20);
    });
  }

  it('names each virtual server from the names file the IPVS mode writes', () => {
    const names = new Map([['tcp/10.96.0.10:80', 'flows/web:p'], ['udp/10.96.0.20:53', 'flows/empty:dns']]);
    const view = parseIpvsView({ ...listings(4), names }, 4);
    expect(frontend(view, 'tcp', { ip4: '10.96.0.10', ip6: '' }, 80).service).toBe('flows/web:p');
    expect(frontend(view, 'udp', { ip4: '10.96.0.20', ip6: '' }, 53).service).toBe('flows/empty:dns');
    expect(frontend(view, 'tcp', { ip4: '10.96.0.20', ip6: '' }, 80).service).toBeUndefined();
  });

  it('without ipsets, every virtual server is shown as a ClusterIP with its real servers', () => {
    const { ipvsadm } = listings(4);
    const view = parseIpvsView({ ipvsadm, ipset: '', nat: '' }, 4);
    expect(view.frontends.every((f) => f.kind === 'ClusterIP' && f.masquerade === undefined)).toBe(true);
    expect(view.frontends).toHaveLength(32);
  });

  it('detects virtual servers per family', () => {
    const all = listings(4).ipvsadm;
    const v4only = all.split('\n').filter((l) => !l.includes('[')).join('\n');
    expect([hasIpvsServices(all, 4), hasIpvsServices(all, 6)]).toEqual([true, true]);
    expect([hasIpvsServices(v4only, 4), hasIpvsServices(v4only, 6)]).toEqual([true, false]);
    expect(hasIpvsServices('', 4)).toBe(false);
  });
});
