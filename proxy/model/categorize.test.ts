import { describe, expect, it } from 'vitest';
import { categorizeEndpoints } from './categorize.ts';
import type { Endpoint, NodeInfo, ServicePort } from './types.ts';
import { endpoint, servicePort } from '../../test/support/proxy-model.ts';

const node: NodeInfo = { name: 'node-a', zone: 'zone-a' };

const sp = (over: Partial<ServicePort> = {}) => servicePort('ns', 'svc', over);
const ep = endpoint;

const ips = (eps: Endpoint[]) => eps.map((e) => e.ip);

describe('categorizeEndpoints', () => {
  it('Cluster policy uses every ready endpoint', () => {
    const r = categorizeEndpoints(sp(), [ep('10.0.0.1'), ep('10.0.0.2', { ready: false, serving: false }), ep('10.0.0.3', { isLocal: true })], node);
    expect(ips(r.clusterEndpoints)).toEqual(['10.0.0.1', '10.0.0.3']);
    expect(r.localEndpoints).toEqual([]);
    expect(ips(r.allReachableEndpoints)).toEqual(['10.0.0.1', '10.0.0.3']);
    expect(r.hasAnyEndpoints).toBe(true);
  });

  it('falls back to serving terminating endpoints only when none is ready anywhere', () => {
    const term = ep('10.0.0.2', { ready: false, serving: true, terminating: true });
    const notServing = ep('10.0.0.3', { ready: false, serving: false, terminating: true });
    expect(ips(categorizeEndpoints(sp(), [ep('10.0.0.1'), term], node).clusterEndpoints)).toEqual(['10.0.0.1']);
    const r = categorizeEndpoints(sp(), [term, notServing], node);
    expect(ips(r.clusterEndpoints)).toEqual(['10.0.0.2']);
    expect(r.hasAnyEndpoints).toBe(true);
    expect(categorizeEndpoints(sp(), [notServing], node).hasAnyEndpoints).toBe(false);
  });

  it('internalTrafficPolicy Local uses only local endpoints, and still knows of remote ones', () => {
    const r = categorizeEndpoints(sp({ internalPolicyLocal: true }), [ep('10.0.0.1'), ep('10.0.0.2', { isLocal: true })], node);
    expect(r.clusterEndpoints).toEqual([]);
    expect(ips(r.localEndpoints)).toEqual(['10.0.0.2']);
    expect(ips(r.allReachableEndpoints)).toEqual(['10.0.0.2']);
    const none = categorizeEndpoints(sp({ internalPolicyLocal: true }), [ep('10.0.0.1')], node);
    expect(none.localEndpoints).toEqual([]);
    expect(none.hasAnyEndpoints).toBe(true); // DROP, not REJECT
  });

  it('local policy falls back to local serving terminating endpoints', () => {
    const r = categorizeEndpoints(
      sp({ internalPolicyLocal: true }),
      [ep('10.0.0.1'), ep('10.0.0.2', { isLocal: true, ready: false, terminating: true })],
      node,
    );
    expect(ips(r.localEndpoints)).toEqual(['10.0.0.2']);
  });

  it('externalTrafficPolicy Local on an external Service merges cluster and local lists', () => {
    const svc = sp({ nodePort: 30080, externalPolicyLocal: true });
    const local = ep('10.0.0.9', { isLocal: true, ready: false, terminating: true });
    const r = categorizeEndpoints(svc, [ep('10.0.0.1'), local], node);
    expect(ips(r.clusterEndpoints)).toEqual(['10.0.0.1']);
    expect(ips(r.localEndpoints)).toEqual(['10.0.0.9']);
    expect(ips(r.allReachableEndpoints)).toEqual(['10.0.0.1', '10.0.0.9']);
  });

  it('zone hints narrow Cluster traffic when every ready endpoint has them and one matches', () => {
    const eps = [ep('10.0.0.1', { zoneHints: ['zone-a'] }), ep('10.0.0.2', { zoneHints: ['zone-b'] })];
    expect(ips(categorizeEndpoints(sp(), eps, node).clusterEndpoints)).toEqual(['10.0.0.1']);
    // One endpoint without hints: hints are ignored.
    expect(ips(categorizeEndpoints(sp(), [...eps, ep('10.0.0.3')], node).clusterEndpoints)).toHaveLength(3);
    // No hint for this zone: ignored.
    expect(ips(categorizeEndpoints(sp(), eps, { name: 'node-c', zone: 'zone-c' }).clusterEndpoints)).toHaveLength(2);
    // Node without a zone label: ignored.
    expect(ips(categorizeEndpoints(sp(), eps, { name: 'node-c', zone: '' }).clusterEndpoints)).toHaveLength(2);
  });

  it('node hints win over zone hints', () => {
    const eps = [
      ep('10.0.0.1', { zoneHints: ['zone-a'], nodeHints: ['node-b'] }),
      ep('10.0.0.2', { zoneHints: ['zone-a'], nodeHints: ['node-a'] }),
    ];
    expect(ips(categorizeEndpoints(sp(), eps, node).clusterEndpoints)).toEqual(['10.0.0.2']);
  });

  it('topology hints do not apply to Local policies', () => {
    const eps = [ep('10.0.0.1', { isLocal: true, zoneHints: ['zone-b'] }), ep('10.0.0.2', { zoneHints: ['zone-a'] })];
    expect(ips(categorizeEndpoints(sp({ internalPolicyLocal: true }), eps, node).localEndpoints)).toEqual(['10.0.0.1']);
  });
});
