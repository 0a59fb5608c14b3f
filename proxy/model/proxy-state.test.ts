import { describe, expect, it } from 'vitest';
import { parseEndpointSlice, parseService } from '../watch/objects.ts';
import { ProxyState } from './proxy-state.ts';
import type { SliceChanges } from './change-tracker.ts';
import type { SkippedEndpoint } from './endpoints.ts';

const node = { name: 'node-a', zone: '' };

const svc = (name: string, clusterIPs: string[], extra: Record<string, unknown> = {}) =>
  parseService({
    metadata: { namespace: 'ns', name },
    spec: { clusterIP: clusterIPs[0], clusterIPs, ports: [{ name: 'p', port: 80, protocol: 'UDP' }], ...extra },
  });

const slice = (svcName: string, name: string, addressType: string, addrs: string[]) =>
  parseEndpointSlice({
    metadata: { namespace: 'ns', name, labels: { 'kubernetes.io/service-name': svcName } },
    addressType,
    ports: [{ name: 'p', port: 8080, protocol: 'UDP' }],
    endpoints: addrs.map((a) => ({ addresses: [a], nodeName: a.endsWith('1') ? 'node-a' : 'node-b' })),
  });

function sliceChanges(svcName: string, ...slices: ReturnType<typeof slice>[]): SliceChanges {
  return new Map([[`ns/${svcName}`, new Map(slices.map((s) => [`ns/${s.metadata.name}`, s]))]]);
}

describe('ProxyState', () => {
  it('splits a dual-stack Service into one ServicePort per family with its own endpoints', () => {
    const st = new ProxyState([4, 6], node);
    const ch = st.apply(
      new Map([['ns/a', svc('a', ['10.96.0.1', 'fd00::1'])]]),
      sliceChanges('a', slice('a', 'a-4', 'IPv4', ['10.0.0.1', '10.0.0.2']), slice('a', 'a-6', 'IPv6', ['fd01::1'])),
    );
    expect([...(ch.get(4)?.changed ?? [])]).toEqual(['ns/a:p/UDP']);
    expect(st.snapshot(4)?.services.get('ns/a:p/UDP')?.clusterIP).toBe('10.96.0.1');
    expect(st.snapshot(6)?.services.get('ns/a:p/UDP')?.clusterIP).toBe('fd00::1');
    expect(st.snapshot(4)?.endpoints.get('ns/a:p/UDP')?.map((e) => `${e.ip}:${e.port}:${e.isLocal}`)).toEqual([
      '10.0.0.1:8080:true',
      '10.0.0.2:8080:false',
    ]);
    expect(st.snapshot(6)?.endpoints.get('ns/a:p/UDP')?.map((e) => e.ip)).toEqual(['fd01::1']);
  });

  it('reports no change for a no-op update and remembers previous UDP endpoints on a real one', () => {
    const st = new ProxyState([4], node);
    st.apply(new Map([['ns/a', svc('a', ['10.96.0.1'])]]), sliceChanges('a', slice('a', 'a-1', 'IPv4', ['10.0.0.1'])));
    const noop = st.apply(new Map([['ns/a', svc('a', ['10.96.0.1'])]]), new Map());
    expect(noop.get(4)?.changed.size).toBe(0);
    const ch = st.apply(new Map(), sliceChanges('a', slice('a', 'a-1', 'IPv4', ['10.0.0.2'])));
    expect([...(ch.get(4)?.changed ?? [])]).toEqual(['ns/a:p/UDP']);
    expect(ch.get(4)?.previousUDP.get('ns/a:p/UDP')?.endpoints.map((e) => e.ip)).toEqual(['10.0.0.1']);
  });

  it('removes every port of a deleted Service', () => {
    const st = new ProxyState([4], node);
    st.apply(new Map([['ns/a', svc('a', ['10.96.0.1'])]]), new Map());
    const ch = st.apply(new Map([['ns/a', null]]), new Map());
    expect([...(ch.get(4)?.changed ?? [])]).toEqual(['ns/a:p/UDP']);
    expect(st.snapshot(4)?.services.size).toBe(0);
  });

  it('skips a bad endpoint address and keeps the others', () => {
    const st = new ProxyState([4], node);
    const skipped: SkippedEndpoint[] = [];
    st.apply(new Map([['ns/a', svc('a', ['10.96.0.1'])]]), sliceChanges('a', slice('a', 'a-1', 'IPv4', ['10.0.0.1', 'not-an-ip'])), { skipped });
    expect(st.snapshot(4)?.endpoints.get('ns/a:p/UDP')?.map((e) => e.ip)).toEqual(['10.0.0.1']);
    expect(skipped.map((s) => s.address)).toEqual(['not-an-ip']);
  });

  it('ignores headless and ExternalName Services', () => {
    const st = new ProxyState([4], node);
    st.apply(new Map([['ns/h', svc('h', ['None'])], ['ns/e', parseService({ metadata: { namespace: 'ns', name: 'e' }, spec: { type: 'ExternalName' } })]]), new Map());
    expect(st.snapshot(4)?.services.size).toBe(0);
  });

  it('recomputes every Service from the slices it kept when the node changes', () => {
    const st = new ProxyState([4], node);
    st.apply(new Map([['ns/a', svc('a', ['10.96.0.1'])]]), sliceChanges('a', slice('a', 'a-1', 'IPv4', ['10.0.0.1', '10.0.0.2'])));
    const ch = st.apply(new Map(), new Map(), { node: { name: 'node-b', zone: '' } });
    expect([...(ch.get(4)?.changed ?? [])]).toEqual(['ns/a:p/UDP']);
    expect(st.snapshot(4)?.endpoints.get('ns/a:p/UDP')?.map((e) => `${e.ip}:${e.isLocal}`)).toEqual(['10.0.0.1:false', '10.0.0.2:true']);
  });
});
