import { register as globalRegistry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../lib/http-server.ts';
import { createProxyMetrics, ipFamilyLabel, registerNfacctMetrics, startMetricsServer } from './metrics.ts';
import { parseProxyArgs } from './config/config.ts';
import { kubeProxyConfiguration } from './config/file.ts';

const servers: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function get(port: number, path: string): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

describe('registerNfacctMetrics', () => {
  it("reports the kernel's nfacct packet counts at each scrape, under upstream's names, and nothing it cannot read", async () => {
    const m = createProxyMetrics();
    let counts = new Map([['ct_state_invalid_dropped_pkts', 3], ['localhost_nps_accepted_pkts', 12]]);
    let fail = false;
    registerNfacctMetrics(m.registry, async () => {
      if (fail) throw new Error('nfacct: not found');
      return counts;
    });
    let text = await m.registry.metrics();
    expect(text).toContain('# TYPE kubeproxy_iptables_ct_state_invalid_dropped_packets_total counter\nkubeproxy_iptables_ct_state_invalid_dropped_packets_total 3\n');
    expect(text).toContain('kubeproxy_iptables_localhost_nodeports_accepted_packets_total 12\n');
    counts = new Map([['ct_state_invalid_dropped_pkts', 5]]);
    text = await m.registry.metrics();
    expect(text).toContain('kubeproxy_iptables_ct_state_invalid_dropped_packets_total 5\n');
    expect(text).not.toMatch(/^kubeproxy_iptables_localhost_nodeports_accepted_packets_total /m);
    fail = true;
    expect(await m.registry.metrics()).not.toMatch(/^kubeproxy_iptables_\S+ \d/m);
  });
});

describe('createProxyMetrics', () => {
  it('keeps each instance in its own registry', async () => {
    const a = createProxyMetrics();
    const b = createProxyMetrics();
    a.serviceChangesTotal.inc(3);
    expect(await b.registry.getSingleMetricAsString('kubeproxy_sync_proxy_rules_service_changes_total')).toMatch(/ 0$/m);
    expect(await a.registry.getSingleMetricAsString('kubeproxy_sync_proxy_rules_service_changes_total')).toMatch(/ 3$/m);
    expect(await globalRegistry.metrics()).not.toContain('kubeproxy_');
  });

  it('uses upstream names, labels and network-programming buckets', async () => {
    const m = createProxyMetrics();
    m.syncProxyRulesDuration.labels({ ip_family: ipFamilyLabel(4) }).observe(0.003);
    m.networkProgrammingDuration.labels({ ip_family: ipFamilyLabel(6) }).observe(61);
    m.iptablesRulesTotal.labels({ ip_family: 'IPv4', table: 'nat' }).set(42);
    m.noLocalEndpointsTotal.labels({ ip_family: 'IPv4', traffic_policy: 'external' }).set(2);
    m.proxyHealthzTotal.labels({ code: '503' }).inc();
    const text = await m.registry.metrics();
    expect(text).toContain('kubeproxy_sync_proxy_rules_duration_seconds_bucket{le="0.004",ip_family="IPv4"} 1');
    expect(text).toContain('kubeproxy_sync_proxy_rules_duration_seconds_bucket{le="0.002",ip_family="IPv4"} 0');
    expect(text).toContain('kubeproxy_sync_proxy_rules_iptables_total{ip_family="IPv4",table="nat"} 42');
    expect(text).toContain('kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family="IPv4",traffic_policy="external"} 2');
    expect(text).toContain('kubeproxy_proxy_healthz_total{code="503"} 1');
    const les = [...text.matchAll(/kubeproxy_network_programming_duration_seconds_bucket\{le="([^"]+)",ip_family="IPv6"\} (\d+)/g)];
    expect(les.map((x) => x[1]).slice(0, 5)).toEqual(['0', '0.25', '0.5', '1', '2']);
    expect(les.map((x) => x[1]).slice(-3)).toEqual(['270', '300', '+Inf']);
    expect(les).toHaveLength(82);
    expect(les.find((x) => x[1] === '60')?.[2]).toBe('0');
    expect(les.find((x) => x[1] === '65')?.[2]).toBe('1');
    for (const name of [
      'kubeproxy_sync_full_proxy_rules_duration_seconds', 'kubeproxy_sync_partial_proxy_rules_duration_seconds',
      'kubeproxy_sync_proxy_rules_last_timestamp_seconds', 'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds',
      'kubeproxy_sync_proxy_rules_endpoint_changes_pending', 'kubeproxy_sync_proxy_rules_endpoint_changes_total',
      'kubeproxy_sync_proxy_rules_service_changes_pending', 'kubeproxy_sync_proxy_rules_iptables_last',
      'kubeproxy_sync_proxy_rules_iptables_restore_failures_total', 'kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total',
      'kubeproxy_sync_proxy_rules_nftables_sync_failures_total', 'kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total',
      'kubeproxy_conntrack_reconciler_deleted_entries_total', 'kubeproxy_conntrack_reconciler_sync_duration_seconds',
      'kubeproxy_proxy_livez_total',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
  });

  it('adds process metrics on request', async () => {
    const m = createProxyMetrics({ processMetrics: true });
    expect(await m.registry.metrics()).toContain('process_resident_memory_bytes');
  });
});

describe('startMetricsServer', () => {
  it('serves /metrics, /healthz and /proxyMode, and 404 elsewhere', async () => {
    const m = createProxyMetrics();
    m.endpointChangesTotal.inc(7);
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, m.registry, { proxyMode: 'nftables' });
    servers.push(server);
    const metrics = await get(server.port, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.type).toContain('text/plain');
    expect(metrics.body).toContain('kubeproxy_sync_proxy_rules_endpoint_changes_total 7');
    expect(await get(server.port, '/healthz')).toMatchObject({ status: 200, body: 'ok' });
    expect(await get(server.port, '/proxyMode')).toMatchObject({ status: 200, body: 'nftables' });
    expect((await get(server.port, '/nope')).status).toBe(404);
    expect((await get(server.port, '/configz')).status).toBe(404);
  });

  it('serves the effective configuration on /configz', async () => {
    const cfg = parseProxyArgs(['--proxy-mode', 'nftables', '--cluster-cidr', '10.244.0.0/16', '--hostname-override', 'node-a']);
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, createProxyMetrics().registry, { proxyMode: 'nftables', configz: kubeProxyConfiguration(cfg) });
    servers.push(server);
    const r = await get(server.port, '/configz');
    expect(r).toMatchObject({ status: 200, type: 'application/json' });
    expect(JSON.parse(r.body)).toMatchObject({
      'kubeproxy.config.k8s.io': { kind: 'KubeProxyConfiguration', mode: 'nftables', clusterCIDR: '10.244.0.0/16', hostnameOverride: 'node-a', metricsBindAddress: '127.0.0.1:10249' },
    });
  });

  it('rejects when the address is taken', async () => {
    const m = createProxyMetrics();
    const first = await startMetricsServer({ host: '127.0.0.1', port: 0 }, m.registry, { proxyMode: 'iptables' });
    servers.push(first);
    await expect(startMetricsServer({ host: '127.0.0.1', port: first.port }, m.registry, { proxyMode: 'iptables' })).rejects.toThrow(/EADDRINUSE/);
  });
});
