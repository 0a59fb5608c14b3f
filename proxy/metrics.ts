// kube-proxy's metrics, by their upstream names and labels, in a registry of our own
// (not prom-client's global one, so tests and embedded uses stay independent), and the
// metrics server (/metrics, /healthz, /proxyMode) that kube-proxy runs on 10249.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { IPFamily } from '../lib/ip.ts';
import { listenHTTP, type BindAddress, type RunningServer } from '../lib/http-server.ts';

/** Upstream's ip_family label values. */
export type IPFamilyName = 'IPv4' | 'IPv6';

export function ipFamilyLabel(family: IPFamily): IPFamilyName {
  return family === 4 ? 'IPv4' : 'IPv6';
}

export interface ProxyMetrics {
  registry: Registry;
  syncProxyRulesDuration: Histogram<'ip_family'>;
  syncFullProxyRulesDuration: Histogram<'ip_family'>;
  syncPartialProxyRulesDuration: Histogram<'ip_family'>;
  syncProxyRulesLastTimestamp: Gauge<'ip_family'>;
  syncProxyRulesLastQueuedTimestamp: Gauge<'ip_family'>;
  networkProgrammingDuration: Histogram<'ip_family'>;
  endpointChangesPending: Gauge;
  endpointChangesTotal: Counter;
  serviceChangesPending: Gauge;
  serviceChangesTotal: Counter;
  iptablesRulesTotal: Gauge<'ip_family' | 'table'>;
  iptablesRulesLast: Gauge<'ip_family' | 'table'>;
  iptablesRestoreFailuresTotal: Counter<'ip_family'>;
  iptablesPartialRestoreFailuresTotal: Counter<'ip_family'>;
  nftablesSyncFailuresTotal: Counter<'ip_family'>;
  nftablesCleanupFailuresTotal: Counter<'ip_family'>;
  noLocalEndpointsTotal: Gauge<'ip_family' | 'traffic_policy'>;
  conntrackReconcilerDeletedEntriesTotal: Counter<'ip_family'>;
  conntrackReconcilerSyncDuration: Histogram<'ip_family'>;
  proxyHealthzTotal: Counter<'code'>;
  proxyLivezTotal: Counter<'code'>;
}

/** 1 ms doubling 15 times (~16 s), as upstream's sync-duration histograms. */
const SYNC_BUCKETS = Array.from({ length: 15 }, (_, i) => 0.001 * 2 ** i);

const linear = (start: number, width: number, count: number): number[] =>
  Array.from({ length: count }, (_, i) => start + i * width);

/** Upstream's network-programming buckets: 0, 0.25 s, 0.5 s, 1..59 s, 60..115 s by 5, 2..5 min by 30 s. */
const NETWORK_PROGRAMMING_BUCKETS = [0, ...linear(0.25, 0.25, 2), ...linear(1, 1, 59), ...linear(60, 5, 12), ...linear(120, 30, 7)];

export interface ProxyMetricsOptions {
  /** Also export process_* and nodejs_* metrics (CPU, memory, event loop). */
  processMetrics?: boolean;
}

export function createProxyMetrics(opts: ProxyMetricsOptions = {}): ProxyMetrics {
  const registry = new Registry();
  const registers = [registry];
  if (opts.processMetrics) collectDefaultMetrics({ register: registry });
  const family = ['ip_family'] as const;
  const syncHistogram = (name: string, help: string) =>
    new Histogram({ name, help, labelNames: family, buckets: SYNC_BUCKETS, registers });
  return {
    registry,
    syncProxyRulesDuration: syncHistogram('kubeproxy_sync_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds'),
    syncFullProxyRulesDuration: syncHistogram('kubeproxy_sync_full_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds for full resyncs'),
    syncPartialProxyRulesDuration: syncHistogram('kubeproxy_sync_partial_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds for partial resyncs'),
    syncProxyRulesLastTimestamp: new Gauge({ name: 'kubeproxy_sync_proxy_rules_last_timestamp_seconds', help: 'The last time proxy rules were successfully synced', labelNames: family, registers }),
    syncProxyRulesLastQueuedTimestamp: new Gauge({ name: 'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds', help: 'The last time a sync of proxy rules was queued', labelNames: family, registers }),
    networkProgrammingDuration: new Histogram({ name: 'kubeproxy_network_programming_duration_seconds', help: 'In Cluster Network Programming Latency in seconds', labelNames: family, buckets: NETWORK_PROGRAMMING_BUCKETS, registers }),
    endpointChangesPending: new Gauge({ name: 'kubeproxy_sync_proxy_rules_endpoint_changes_pending', help: 'Pending proxy rules Endpoint changes', registers }),
    endpointChangesTotal: new Counter({ name: 'kubeproxy_sync_proxy_rules_endpoint_changes_total', help: 'Cumulative proxy rules Endpoint changes', registers }),
    serviceChangesPending: new Gauge({ name: 'kubeproxy_sync_proxy_rules_service_changes_pending', help: 'Pending proxy rules Service changes', registers }),
    serviceChangesTotal: new Counter({ name: 'kubeproxy_sync_proxy_rules_service_changes_total', help: 'Cumulative proxy rules Service changes', registers }),
    iptablesRulesTotal: new Gauge({ name: 'kubeproxy_sync_proxy_rules_iptables_total', help: 'Total number of iptables rules owned by kube-proxy', labelNames: ['ip_family', 'table'] as const, registers }),
    iptablesRulesLast: new Gauge({ name: 'kubeproxy_sync_proxy_rules_iptables_last', help: 'Number of iptables rules written by kube-proxy in last sync', labelNames: ['ip_family', 'table'] as const, registers }),
    iptablesRestoreFailuresTotal: new Counter({ name: 'kubeproxy_sync_proxy_rules_iptables_restore_failures_total', help: 'Cumulative proxy iptables restore failures', labelNames: family, registers }),
    iptablesPartialRestoreFailuresTotal: new Counter({ name: 'kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total', help: 'Cumulative proxy iptables partial restore failures', labelNames: family, registers }),
    nftablesSyncFailuresTotal: new Counter({ name: 'kubeproxy_sync_proxy_rules_nftables_sync_failures_total', help: 'Cumulative proxy nftables sync failures', labelNames: family, registers }),
    nftablesCleanupFailuresTotal: new Counter({ name: 'kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total', help: 'Cumulative proxy nftables cleanup failures', labelNames: family, registers }),
    noLocalEndpointsTotal: new Gauge({ name: 'kubeproxy_sync_proxy_rules_no_local_endpoints_total', help: 'Number of services with a Local traffic policy and no endpoints', labelNames: ['ip_family', 'traffic_policy'] as const, registers }),
    conntrackReconcilerDeletedEntriesTotal: new Counter({ name: 'kubeproxy_conntrack_reconciler_deleted_entries_total', help: 'Cumulative conntrack flows deleted by conntrack reconciler', labelNames: family, registers }),
    conntrackReconcilerSyncDuration: syncHistogram('kubeproxy_conntrack_reconciler_sync_duration_seconds', 'ReconcileConntrackFlowsLatency latency in seconds'),
    proxyHealthzTotal: new Counter({ name: 'kubeproxy_proxy_healthz_total', help: 'Cumulative proxy healthz HTTP status', labelNames: ['code'] as const, registers }),
    proxyLivezTotal: new Counter({ name: 'kubeproxy_proxy_livez_total', help: 'Cumulative proxy livez HTTP status', labelNames: ['code'] as const, registers }),
  };
}

/**
 * A counter kept by the kernel (an nfacct object), read at each scrape as upstream's
 * collector does: no sample while the object cannot be read.
 */
class KernelCounter extends Counter {
  private readonly read: () => Promise<number | undefined>;

  constructor(name: string, help: string, registry: Registry, read: () => Promise<number | undefined>) {
    super({ name, help, registers: [registry] });
    this.read = read;
  }

  override async get(): ReturnType<Counter['get']> {
    const value = await this.read().catch(() => undefined);
    this.reset();
    if (value === undefined) return { ...(await super.get()), values: [] };
    this.inc(value);
    return super.get();
  }
}

/**
 * iptables mode's nfacct metrics (upstream registers them in that mode only): `packets`
 * reads every nfacct object's packet count, by object name.
 */
export function registerNfacctMetrics(registry: Registry, packets: () => Promise<ReadonlyMap<string, number>>): void {
  const counter = (name: string, help: string, object: string) =>
    new KernelCounter(name, help, registry, async () => (await packets()).get(object));
  counter('kubeproxy_iptables_ct_state_invalid_dropped_packets_total', 'packets dropped by iptables to work around conntrack problems', 'ct_state_invalid_dropped_pkts');
  counter('kubeproxy_iptables_localhost_nodeports_accepted_packets_total', 'Number of packets accepted on nodeports of loopback interface', 'localhost_nps_accepted_pkts');
}

/**
 * kube-proxy's metrics server: /metrics (Prometheus text), /healthz ("ok"), /proxyMode,
 * /configz (the effective KubeProxyConfiguration, keyed by its group as upstream's configz).
 */
export function startMetricsServer(bind: BindAddress, registry: Registry, opts: { proxyMode: string; configz?: Record<string, unknown> }): Promise<RunningServer> {
  return listenHTTP(bind, (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const text = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type, 'X-Content-Type-Options': 'nosniff' });
      res.end(body);
    };
    switch (path) {
      case '/metrics':
        registry.metrics().then(
          (body) => text(200, body, registry.contentType),
          (err: unknown) => text(500, `collecting metrics: ${String(err)}\n`),
        );
        return;
      case '/healthz':
        return text(200, 'ok');
      case '/proxyMode':
        return text(200, opts.proxyMode);
      case '/configz':
        if (!opts.configz) break;
        return text(200, `${JSON.stringify({ 'kubeproxy.config.k8s.io': opts.configz }, null, 2)}\n`, 'application/json');
    }
    text(404, '404 page not found\n');
  });
}
