import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../lib/clock.ts';
import { ProxyHealth, startProxyHealthServer, TO_BE_DELETED_TAINT } from './proxy-health.ts';
import type { RunningServer } from '../../lib/http-server.ts';
import { createProxyMetrics } from '../metrics.ts';
import { parseNode, type Node } from '../watch/objects.ts';

const TIMEOUT = 60_000;

function setup() {
  const clock = new FakeClock(Date.UTC(2025, 0, 1));
  const metrics = createProxyMetrics();
  const health = new ProxyHealth({ healthTimeoutMs: TIMEOUT, clock, counters: { healthz: metrics.proxyHealthzTotal, livez: metrics.proxyLivezTotal } });
  return { clock, metrics, health };
}

const node = (extra: Record<string, unknown> = {}): Node => parseNode({ metadata: { name: 'n1' }, spec: {}, ...extra });

describe('ProxyHealth', () => {
  it('is healthy and eligible at start', () => {
    const { health, clock } = setup();
    const r = health.healthz();
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ lastUpdated: new Date(clock.now()).toISOString(), currentTime: new Date(clock.now()).toISOString(), nodeEligible: true });
    expect(health.livez().body).not.toHaveProperty('nodeEligible');
  });

  it('turns unhealthy once the oldest queued update is healthTimeout old, and healthy again after a sync', async () => {
    const { health, clock } = setup();
    health.updated(4);
    const syncedAt = clock.now();
    await clock.advance(1000);
    health.queued(4);
    await clock.advance(30_000);
    health.queued(4); // a later change does not reset the clock
    await clock.advance(TIMEOUT - 30_001);
    expect(health.isHealthy()).toBe(true);
    await clock.advance(1);
    expect(health.isHealthy()).toBe(false);
    const bad = health.healthz();
    expect(bad.status).toBe(503);
    expect(bad.body.lastUpdated).toBe(new Date(syncedAt).toISOString());
    expect(health.livez().status).toBe(503);
    health.updated(4);
    expect(health.healthz().status).toBe(200);
  });

  it('tracks IP families separately', async () => {
    const { health, clock } = setup();
    health.queued(4);
    health.queued(6);
    await clock.advance(TIMEOUT);
    health.updated(4);
    expect(health.isHealthy()).toBe(false);
    health.updated(6);
    expect(health.isHealthy()).toBe(true);
  });

  it('counts a change queued before the first sync', async () => {
    const { health, clock } = setup();
    health.queued(4);
    await clock.advance(TIMEOUT);
    const r = health.livez();
    expect(r.status).toBe(503);
    expect(r.body.lastUpdated).toBe(new Date(0).toISOString());
  });

  it('fails /healthz but not /livez while the node is deleting or tainted for deletion', () => {
    const { health } = setup();
    health.setNode(node({ metadata: { name: 'n1', deletionTimestamp: new Date() } }));
    expect(health.healthz()).toMatchObject({ status: 503, body: { nodeEligible: false } });
    expect(health.livez().status).toBe(200);
    health.setNode(node({ spec: { taints: [{ key: 'other', effect: 'NoSchedule' }] } }));
    expect(health.healthz().status).toBe(200);
    health.setNode(node({ spec: { taints: [{ key: TO_BE_DELETED_TAINT, effect: 'NoSchedule' }] } }));
    expect(health.nodeEligible()).toBe(false);
    expect(health.healthz().status).toBe(503);
  });

  it('counts answers by code', async () => {
    const { health, metrics } = setup();
    health.healthz();
    health.healthz();
    health.setNode(node({ metadata: { name: 'n1', deletionTimestamp: new Date() } }));
    health.healthz();
    health.livez();
    const text = await metrics.registry.metrics();
    expect(text).toContain('kubeproxy_proxy_healthz_total{code="200"} 2');
    expect(text).toContain('kubeproxy_proxy_healthz_total{code="503"} 1');
    expect(text).toContain('kubeproxy_proxy_livez_total{code="200"} 1');
  });
});

describe('startProxyHealthServer', () => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.close();
  });

  it('serves /healthz and /livez as JSON', async () => {
    const { health, clock } = setup();
    server = await startProxyHealthServer({ host: '127.0.0.1', port: 0 }, health);
    const base = `http://127.0.0.1:${server.port}`;
    let res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toMatchObject({ nodeEligible: true });
    health.queued(4);
    await clock.advance(TIMEOUT);
    res = await fetch(`${base}/livez`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ lastUpdated: new Date(0).toISOString(), currentTime: new Date(clock.now()).toISOString() });
    expect((await fetch(`${base}/other`)).status).toBe(404);
  });
});
