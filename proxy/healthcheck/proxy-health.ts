// kube-proxy's own health (/healthz and /livez on 10256): healthy unless a queued
// update has waited longer than healthTimeout without a sync; /healthz also reports
// unhealthy while the Node is being deleted, so load balancers drain it first.
import type { Counter } from 'prom-client';
import type { IPFamily } from '../../lib/ip.ts';
import type { Node } from '../watch/objects.ts';
import { realClock, type Clock } from '../../lib/clock.ts';
import { listenHTTP, type BindAddress, type RunningServer } from '../../lib/http-server.ts';

/** The taint the cluster autoscaler puts on a node it is about to delete. */
export const TO_BE_DELETED_TAINT = 'ToBeDeletedByClusterAutoscaler';

export interface HealthReport {
  status: 200 | 503;
  body: { lastUpdated: string; currentTime: string; nodeEligible?: boolean };
}

export interface ProxyHealthOptions {
  /** How long a queued update may wait for a sync (kube-proxy: 2 × syncPeriod). */
  healthTimeoutMs: number;
  clock?: Clock;
  /** kubeproxy_proxy_healthz_total / kubeproxy_proxy_livez_total, counted per answer. */
  counters?: { healthz: Counter<'code'>; livez: Counter<'code'> };
}

export class ProxyHealth {
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly counters: ProxyHealthOptions['counters'];
  private readonly lastUpdated = new Map<IPFamily, number>();
  private readonly oldestQueued = new Map<IPFamily, number>();
  // Eligible while starting up, until a Node event says otherwise.
  private eligible = true;

  constructor(opts: ProxyHealthOptions) {
    this.timeoutMs = opts.healthTimeoutMs;
    this.clock = opts.clock ?? realClock;
    this.counters = opts.counters;
  }

  /** A change for `family` awaits a sync; only the oldest unsynced change's time is kept. */
  queued(family: IPFamily): void {
    if (!this.oldestQueued.has(family)) this.oldestQueued.set(family, this.clock.now());
  }

  /** A sync of `family` finished: everything queued before it is applied. */
  updated(family: IPFamily): void {
    this.oldestQueued.delete(family);
    this.lastUpdated.set(family, this.clock.now());
  }

  /** Tracks whether this node should still receive traffic (not deleting, not being scaled away). */
  setNode(node: Node): void {
    const deleting = node.metadata.deletionTimestamp != null;
    const tainted = (node.spec.taints ?? []).some((t) => t.key === TO_BE_DELETED_TAINT);
    this.eligible = !deleting && !tainted;
  }

  nodeEligible(): boolean {
    return this.eligible;
  }

  /** The proxy's own health, ignoring the Node (what /livez and service health checks use). */
  isHealthy(): boolean {
    // Unlike upstream, a change queued before the first sync counts too: a proxy whose
    // first sync never completes is not healthy.
    const now = this.clock.now();
    for (const since of this.oldestQueued.values()) {
      if (now - since >= this.timeoutMs) return false;
    }
    return true;
  }

  healthz(): HealthReport {
    const report = this.report(this.isHealthy() && this.eligible);
    this.counters?.healthz.labels({ code: String(report.status) }).inc();
    return { status: report.status, body: { ...report.body, nodeEligible: this.eligible } };
  }

  livez(): HealthReport {
    const report = this.report(this.isHealthy());
    this.counters?.livez.labels({ code: String(report.status) }).inc();
    return report;
  }

  private report(healthy: boolean): HealthReport {
    const now = this.clock.now();
    // As upstream: a healthy answer reports lastUpdated = now (older clients read it as
    // "the sync loop is alive"); an unhealthy one the real time of the last sync.
    const last = healthy ? now : Math.max(0, ...this.lastUpdated.values());
    return {
      status: healthy ? 200 : 503,
      body: { lastUpdated: new Date(last).toISOString(), currentTime: new Date(now).toISOString() },
    };
  }
}

/** Serves /healthz and /livez for `health`; other paths get 404. */
export function startProxyHealthServer(bind: BindAddress, health: ProxyHealth): Promise<RunningServer> {
  return listenHTTP(bind, (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const report = path === '/healthz' ? health.healthz() : path === '/livez' ? health.livez() : undefined;
    if (!report) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('404 page not found\n');
      return;
    }
    res.writeHead(report.status, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' });
    res.end(JSON.stringify(report.body));
  });
}
