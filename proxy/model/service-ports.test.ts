import { describe, expect, it } from 'vitest';
import { parseService, type Service } from '../watch/objects.ts';
import { servicePortsOf } from './service-ports.ts';

describe('servicePortsOf', () => {
  it('yields only canonical addresses of the family, even from a Service that bypassed the edge', () => {
    const valid = parseService({ metadata: { namespace: 'ns', name: 'lb' }, spec: { type: 'LoadBalancer', clusterIP: '10.96.0.1', ports: [{ port: 80 }] } });
    // What the edge would have refused, as a future code path or a test might hand it over.
    const svc: Service = {
      ...valid,
      spec: {
        ...valid.spec,
        externalIPs: ['1.2.3.4\n', '1.2.3.5 -j ACCEPT', 'fd00::1', '001.002.003.006'],
        loadBalancerSourceRanges: ['10.0.0.0/8 -j ACCEPT\n', ' 192.168.0.1/24\n', '10.1.0.0/16\nCOMMIT'],
      },
      status: { loadBalancer: { ingress: [{ ip: '5.6.7.8\n-I INPUT 1 -j ACCEPT' }, { ip: '5.6.7.9 ' }] } },
    };
    const [sp] = servicePortsOf(svc, 4);
    expect(sp?.externalIPs).toEqual(['1.2.3.4', '1.2.3.6']);
    expect(sp?.loadBalancerVIPs).toEqual(['5.6.7.9']);
    expect(sp?.loadBalancerSourceRanges).toEqual(['192.168.0.0/24']);
  });
});
