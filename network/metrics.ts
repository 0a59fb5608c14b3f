// `kpr network`'s Prometheus metrics (a registry of its own) and its two HTTP servers:
// /healthz and /livez (200 once the first reconcile has programmed the node and the node
// file exists, and while reconciles keep succeeding), and /metrics.
import type { ServerResponse } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { listenHTTP, type BindAddress, type RunningServer } from '../lib/http-server.ts';
import type { Clock } from '../lib/clock.ts';

export interface NetworkMetrics {
  registry: Registry;
  peers: Gauge;
  entries: Gauge<'kind' | 'ip_family'>;
  reconcileDuration: Histogram;
  reconcileErrors: Counter;
  lastReconcile: Gauge;
  unreachablePeers: Gauge<'node' | 'ip_family'>;
  skippedNodes: Gauge<'node' | 'reason'>;
}

/** 1 ms doubling 15 times (~16 s), as kube-proxy's sync histograms. */
const BUCKETS = Array.from({ length: 15 }, (_, i) => 0.001 * 2 ** i);

export function createNetworkMetrics(opts: { processMetrics?: boolean } = {}): NetworkMetrics {
  const registry = new Registry();
  const registers = [registry];
  if (opts.processMetrics) collectDefaultMetrics({ register: registry });
  return {
    registry,
    peers: new Gauge({ name: 'kpr_network_peers', help: 'Peer Nodes with routes to their pod CIDRs', registers }),
    entries: new Gauge({ name: 'kpr_network_entries', help: 'Routes, neighbours and FDB entries programmed', labelNames: ['kind', 'ip_family'] as const, registers }),
    reconcileDuration: new Histogram({ name: 'kpr_network_reconcile_duration_seconds', help: 'Reconcile latency in seconds', buckets: BUCKETS, registers }),
    reconcileErrors: new Counter({ name: 'kpr_network_reconcile_errors_total', help: 'Reconciles that failed or left kernel changes undone', registers }),
    lastReconcile: new Gauge({ name: 'kpr_network_last_reconcile_timestamp_seconds', help: 'The last time a reconcile succeeded', registers }),
    unreachablePeers: new Gauge({ name: 'kpr_network_unreachable_peers', help: 'Peers host-gw cannot reach (not on a directly connected subnet): 1 per Node and family', labelNames: ['node', 'ip_family'] as const, registers }),
    skippedNodes: new Gauge({ name: 'kpr_network_skipped_nodes', help: 'Nodes left out (no pod CIDR, no InternalIP, malformed): 1 per Node', labelNames: ['node', 'reason'] as const, registers }),
  };
}

/** Ready after the first successful reconcile; unhealthy when none succeeded for `staleAfterMs`. */
export class NetworkHealth {
  private lastSuccess: number | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly staleAfterMs: number,
  ) {}

  reconciled(): void {
    this.lastSuccess = this.clock.now();
  }

  status(): { healthy: boolean; body: string } {
    const now = this.clock.now();
    const healthy = this.lastSuccess !== undefined && now - this.lastSuccess <= this.staleAfterMs;
    const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
    return { healthy, body: JSON.stringify({ lastUpdated: iso(this.lastSuccess), currentTime: iso(now) }) };
  }
}

function reply(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'Content-Type': type, 'X-Content-Type-Options': 'nosniff' });
  res.end(body);
}

export function startHealthServer(bind: BindAddress, health: NetworkHealth): Promise<RunningServer> {
  return listenHTTP(bind, (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== '/healthz' && path !== '/livez') return reply(res, 404, '404 page not found\n');
    const s = health.status();
    reply(res, s.healthy ? 200 : 503, s.body, 'application/json');
  });
}

export function startMetricsServer(bind: BindAddress, registry: Registry): Promise<RunningServer> {
  return listenHTTP(bind, (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/healthz') return reply(res, 200, 'ok');
    if (path !== '/metrics') return reply(res, 404, '404 page not found\n');
    registry.metrics().then(
      (body) => reply(res, 200, body, registry.contentType),
      (err: unknown) => reply(res, 500, `collecting metrics: ${String(err)}\n`),
    );
  });
}
