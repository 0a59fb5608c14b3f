import { describe, expect, it } from 'vitest';
import { strategicMergePatch } from './strategic-merge.ts';

const svc = {
  metadata: { name: 'web', labels: { a: '1', b: '2' }, finalizers: ['x'] },
  spec: { ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }, { port: 443, targetPort: 8443, protocol: 'TCP' }], externalIPs: ['1.1.1.1', '2.2.2.2'] },
};

describe('strategicMergePatch', () => {
  it('merges maps as a merge patch does: null deletes, scalars replace', () => {
    expect(strategicMergePatch('Service', svc, { metadata: { labels: { a: null, c: '3' } } })).toMatchObject({ metadata: { labels: { b: '2', c: '3' } } });
  });

  it('merges Service ports by port and replaces lists without a strategy (externalIPs)', () => {
    const out = strategicMergePatch('Service', svc, { spec: { ports: [{ port: 443, targetPort: 9443 }, { port: 53, protocol: 'UDP' }], externalIPs: ['3.3.3.3'] } }) as typeof svc;
    expect(out.spec.ports).toEqual([{ port: 80, targetPort: 8080, protocol: 'TCP' }, { port: 443, targetPort: 9443, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }]);
    expect(out.spec.externalIPs).toEqual(['3.3.3.3']);
  });

  it('honours $patch delete in a list, $setElementOrder and $deleteFromPrimitiveList (what kubectl apply sends)', () => {
    const out = strategicMergePatch('Service', svc, {
      metadata: { '$deleteFromPrimitiveList/finalizers': ['x'], finalizers: ['y'] },
      spec: { '$setElementOrder/ports': [{ port: 443 }, { port: 80 }], ports: [{ port: 80, $patch: 'delete' }] },
    }) as typeof svc;
    expect(out.spec.ports).toEqual([{ port: 443, targetPort: 8443, protocol: 'TCP' }]);
    expect(out.metadata.finalizers).toEqual(['y']);
    const reordered = strategicMergePatch('Service', svc, { spec: { '$setElementOrder/ports': [{ port: 443 }, { port: 80 }] } }) as typeof svc;
    expect(reordered.spec.ports.map((p) => p.port)).toEqual([443, 80]);
  });

  it('replaces a map or a merging list on $patch replace, and keeps only $retainKeys', () => {
    expect(strategicMergePatch('Service', svc, { metadata: { labels: { $patch: 'replace', z: '9' } } })).toMatchObject({ metadata: { labels: { z: '9' } } });
    const out = strategicMergePatch('Service', svc, { spec: { ports: [{ $patch: 'replace' }, { port: 1 }] } }) as typeof svc;
    expect(out.spec.ports).toEqual([{ port: 1 }]);
    expect(strategicMergePatch('Service', svc, { spec: { $retainKeys: ['ports'], ports: [] } })).toEqual({ ...svc, spec: { ports: svc.spec.ports } });
  });

  it('treats Node podCIDRs as a set and status addresses by type; EndpointSlice endpoints are atomic', () => {
    const node = { spec: { podCIDRs: ['10.244.1.0/24'] }, status: { addresses: [{ type: 'InternalIP', address: '1.1.1.1' }, { type: 'Hostname', address: 'a' }] } };
    expect(strategicMergePatch('Node', node, { spec: { podCIDRs: ['fd00::/64', '10.244.1.0/24'] }, status: { addresses: [{ type: 'InternalIP', address: '2.2.2.2' }] } })).toEqual({
      spec: { podCIDRs: ['10.244.1.0/24', 'fd00::/64'] },
      status: { addresses: [{ type: 'InternalIP', address: '2.2.2.2' }, { type: 'Hostname', address: 'a' }] },
    });
    const slice = { endpoints: [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.2'] }] };
    expect(strategicMergePatch('EndpointSlice', slice, { endpoints: [{ addresses: ['10.0.0.3'] }] })).toEqual({ endpoints: [{ addresses: ['10.0.0.3'] }] });
  });

  it('refuses what it cannot apply, naming it', () => {
    expect(() => strategicMergePatch('Service', svc, [])).toThrow(/JSON object/);
    expect(() => strategicMergePatch('Service', svc, { spec: { ports: [{ name: 'x' }] } })).toThrow(/"spec.ports" has no merge key "port"/);
    expect(() => strategicMergePatch('Service', svc, { spec: { $patch: 'bogus' } })).toThrow(/unknown \$patch directive "bogus" at "spec"/);
  });
});
