import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { EndpointsChangeTracker, ServiceChangeTracker } from '../model/change-tracker.ts';
import { proxyEventHandlers } from './handlers.ts';
import type { Node } from './objects.ts';

function adapter() {
  const logs: { msg: string; kind?: string; err?: string }[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const services = new ServiceChangeTracker();
  const endpoints = new EndpointsChangeTracker();
  const serviceCIDRs = new Map<string, readonly string[]>();
  const seen = { events: 0, services: 0, triggers: [] as (number | undefined)[], nodes: [] as Node[] };
  const handlers = proxyEventHandlers({
    services, endpoints, serviceCIDRs, log,
    node: (n) => void seen.nodes.push(n),
    serviceRecorded: () => void seen.services++,
    sliceRecorded: (t) => void seen.triggers.push(t),
    changed: () => void seen.events++,
  });
  return { handlers, services, endpoints, serviceCIDRs, seen, logs };
}

const slice = (name: string, service: string, ip = '10.244.1.5', annotations?: Record<string, string>) => ({
  metadata: { namespace: 'ns', name, labels: { 'kubernetes.io/service-name': service }, ...(annotations ? { annotations } : {}) },
  addressType: 'IPv4',
  endpoints: [{ addresses: [ip] }],
  ports: [{ name: 'p', port: 8080, protocol: 'TCP' }],
});
const service = (name: string, port = 80) => ({ metadata: { namespace: 'ns', name }, spec: { clusterIP: '10.96.0.10', ports: [{ name: 'p', port }] } });
/** What a relist delivers for an object that vanished while the watch was down: its name only. */
const gone = (name: string, namespace = 'ns') => ({ metadata: { namespace, name } });

/** The pending slice changes as "service: slice=ip|deleted". */
const pendingSlices = (t: EndpointsChangeTracker) =>
  [...t.drain()].flatMap(([svc, slices]) => [...slices].map(([key, s]) => `${svc}: ${key}=${s ? s.endpoints[0]?.addresses[0] : 'deleted'}`)).sort();

describe('proxy event handlers', () => {
  it('a slice relabelled to another Service leaves the old one and joins the new', () => {
    const a = adapter();
    a.handlers.endpointSlices.upsert(slice('web-abc', 'web'));
    expect(pendingSlices(a.endpoints)).toEqual(['ns/web: ns/web-abc=10.244.1.5']);
    a.handlers.endpointSlices.upsert(slice('web-abc', 'api', '10.244.1.6'));
    expect(pendingSlices(a.endpoints)).toEqual(['ns/api: ns/web-abc=10.244.1.6', 'ns/web: ns/web-abc=deleted']);
    // Its later delete (by name only) goes to the Service it belongs to now.
    a.handlers.endpointSlices.delete(gone('web-abc'));
    expect(pendingSlices(a.endpoints)).toEqual(['ns/api: ns/web-abc=deleted']);
  });

  it('a delete delivered after a relist (the object vanished while the watch was down) removes it', () => {
    const a = adapter();
    a.handlers.services.upsert(service('web'));
    a.handlers.endpointSlices.upsert(slice('web-abc', 'web'));
    a.services.drain();
    a.endpoints.drain();
    a.handlers.services.delete(gone('web'));
    a.handlers.endpointSlices.delete(gone('web-abc'));
    expect([...a.services.drain()]).toEqual([['ns/web', null]]);
    expect(pendingSlices(a.endpoints)).toEqual(['ns/web: ns/web-abc=deleted']);
    // A delete of a slice never seen names no Service: nothing to record.
    a.handlers.endpointSlices.delete(gone('never-seen'));
    expect(a.endpoints.pendingCount).toBe(0);
  });

  it('skips a malformed object, logging its name; its last valid version stays', () => {
    const a = adapter();
    a.handlers.services.upsert(service('web', 80));
    a.handlers.services.upsert(service('web', 70000));
    a.handlers.endpointSlices.upsert({ ...slice('web-abc', 'web'), metadata: { namespace: 'ns', name: 'web-abc', labels: {} } });
    expect([...a.services.drain()].map(([k, s]) => [k, s?.spec.ports[0]?.port])).toEqual([['ns/web', 80]]);
    expect(a.endpoints.pendingCount).toBe(0);
    const errors = a.logs.filter((l) => l.msg.startsWith('ignoring invalid object'));
    expect(errors.map((l) => l.err)).toEqual([
      expect.stringMatching(/^Service ns\/web: invalid: spec\.ports\.0\.port/),
      expect.stringMatching(/^EndpointSlice ns\/web-abc: missing label kubernetes\.io\/service-name/),
    ]);
    // Only the valid event counts as a change.
    expect(a.seen).toMatchObject({ events: 1, services: 1 });
  });

  it('passes on slice trigger times, the Node (not its delete) and ServiceCIDRs', () => {
    const a = adapter();
    a.handlers.endpointSlices.upsert(slice('web-abc', 'web', '10.244.1.5', { 'endpoints.kubernetes.io/last-change-trigger-time': '2026-01-02T03:04:05Z' }));
    a.handlers.endpointSlices.upsert(slice('web-def', 'web'));
    expect(a.seen.triggers).toEqual([Date.parse('2026-01-02T03:04:05Z'), undefined]);

    a.handlers.nodes.upsert({ metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/zone': 'z1' } } });
    a.handlers.nodes.delete(gone('node-a', ''));
    expect(a.seen.nodes.map((n) => n.metadata.labels)).toEqual([{ 'topology.kubernetes.io/zone': 'z1' }]);

    a.handlers.serviceCIDRs.upsert({ metadata: { name: 'kubernetes' }, spec: { cidrs: ['10.96.0.0/16'] } });
    a.handlers.serviceCIDRs.upsert({ metadata: { name: 'extra' }, spec: { cidrs: ['10.97.0.0/16'] } });
    a.handlers.serviceCIDRs.delete({ metadata: { name: 'kubernetes' } });
    expect([...a.serviceCIDRs]).toEqual([['extra', ['10.97.0.0/16']]]);
  });
});
