// One sync of the proxy (mode-independent): drain the change trackers into the
// state, let every family's backend program the kernel (partially when it can), then
// clean stale UDP conntrack entries and publish metrics and health-check state.
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '../lib/log.ts';
import { errorMessage } from '../lib/errors.ts';
import type { IPFamily } from '../lib/ip.ts';
import type { ProxyBackend, RulesConfig } from './backend.ts';
import { cleanupStaleUDP, type CleanupOptions } from './conntrack/conntrack.ts';
import type { EndpointsChangeTracker, ServiceChangeTracker } from './model/change-tracker.ts';
import type { SkippedEndpoint } from './model/endpoints.ts';
import type { ProxyState } from './model/proxy-state.ts';
import type { NodeInfo, ServicePort } from './model/types.ts';
import type { ProxyHealth } from './healthcheck/proxy-health.ts';
import { ipFamilyLabel, type ProxyMetrics } from './metrics.ts';
import type { ServiceHealthServer } from './healthcheck/service-health.ts';
import { ServiceStatus } from './healthcheck/service-status.ts';

/** Upstream's FullSyncPeriod: a periodic full resync repairs rules changed behind our back. */
const FULL_SYNC_PERIOD_MS = 60 * 60 * 1000;

export interface SyncerDeps {
  state: ProxyState;
  services: ServiceChangeTracker;
  endpoints: EndpointsChangeTracker;
  backends: readonly ProxyBackend[];
  /** The rules settings of a family at this moment (node addresses may have changed). */
  rulesConfig(family: IPFamily): Promise<RulesConfig>;
  /** This node's current name and zone. */
  node(): NodeInfo;
  /** Local addresses, for matching NodePort conntrack entries. */
  localAddresses(): Promise<readonly string[]>;
  metrics: ProxyMetrics;
  health: ProxyHealth;
  serviceHealth: ServiceHealthServer;
  log: Logger;
  now?: () => number;
  /** Runs a stale UDP conntrack cleanup (default: in this process, on this node's table). */
  conntrackCleanup?: CleanupOptions['cleanup'];
  /** Called after a sync that programmed some family fully: its garbage is the largest there is (lib/gc.ts). */
  afterFullSync?: () => void;
}

export class Syncer {
  private readonly deps: SyncerDeps;
  private readonly now: () => number;
  /** Families whose next sync must be full (start, failure, node topology change). */
  private readonly needFull = new Set<IPFamily>();
  private lastFull = 0;
  private readonly status = new Map<IPFamily, ServiceStatus>();
  /** EndpointSlice trigger times not yet programmed, for network programming latency. */
  private readonly triggerTimes: number[] = [];
  /** Changes that reached the state but not yet the kernel of a family (after a failure). */
  private readonly unsynced = new Map<IPFamily, { changed: Set<string>; removedUDP: ServicePort[] }>();
  /** The config each family's kernel was last programmed with: a change (ServiceCIDRs, addresses) needs a sync. */
  private readonly syncedConfig = new Map<IPFamily, RulesConfig>();

  constructor(deps: SyncerDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    for (const b of deps.backends) {
      this.needFull.add(b.family);
      this.status.set(b.family, new ServiceStatus());
    }
  }

  /** Records when an endpoint change was triggered (EndpointSlice annotation). */
  noteTrigger(time: number): void {
    this.triggerTimes.push(time);
  }

  /**
   * Drains the change trackers into the state. A function of its own: a local of the
   * async sync() lives on in its frame across every await, and the drained objects (at
   * the first sync every EndpointSlice, parsed: ~55 MB at 5,000 x 50) would stay alive
   * while the kernel takes the rules.
   */
  private applyChanges(): ReturnType<ProxyState['apply']> {
    const { deps } = this;
    const skipped: SkippedEndpoint[] = [];
    const changes = deps.state.apply(deps.services.drain(), deps.endpoints.drain(), { node: deps.node(), skipped });
    deps.metrics.serviceChangesPending.set(0);
    deps.metrics.endpointChangesPending.set(0);
    for (const s of skipped) deps.log.warn({ endpointSlice: s.slice, address: s.address }, `skipping endpoint: ${s.reason}`);
    return changes;
  }

  async sync(): Promise<void> {
    const { deps } = this;
    const changes = this.applyChanges();
    const periodicFull = this.now() - this.lastFull >= FULL_SYNC_PERIOD_MS;
    const triggers = this.triggerTimes.splice(0);
    let failed: unknown;
    let syncedFully = false;

    for (const backend of deps.backends) {
      const family = backend.family;
      const snapshot = deps.state.snapshot(family);
      if (!snapshot) continue;
      const ch = changes.get(family) ?? { changed: new Set<string>(), previousUDP: new Map() };
      const pending = this.unsynced.get(family) ?? { changed: new Set<string>(), removedUDP: [] };
      for (const k of ch.changed) pending.changed.add(k);
      for (const [key, prev] of ch.previousUDP) if (!snapshot.services.has(key)) pending.removedUDP.push(prev.service);
      this.unsynced.set(family, pending);

      const full = periodicFull || this.needFull.has(family);
      const config = await deps.rulesConfig(family);
      if (!full && pending.changed.size === 0 && isDeepStrictEqual(config, this.syncedConfig.get(family))) {
        deps.health.updated(family);
        continue;
      }
      const label = { ip_family: ipFamilyLabel(family) };
      const started = this.now();
      deps.metrics.syncProxyRulesLastQueuedTimestamp.set(label, started / 1000);
      try {
        const result = await backend.sync({ snapshot, config, changed: full ? undefined : pending.changed });
        this.syncedConfig.set(family, config);
        const seconds = (this.now() - started) / 1000;
        deps.metrics.syncProxyRulesDuration.observe(label, seconds);
        (result.full ? deps.metrics.syncFullProxyRulesDuration : deps.metrics.syncPartialProxyRulesDuration).observe(label, seconds);
        deps.metrics.syncProxyRulesLastTimestamp.set(label, this.now() / 1000);
        if (backend.mode === 'iptables') deps.metrics.iptablesRulesLast.set({ ...label, table: 'all' }, result.operations);
        for (const t of triggers) deps.metrics.networkProgrammingDuration.observe(label, Math.max(0, this.now() - t) / 1000);
        this.needFull.delete(family);
        syncedFully ||= result.full;
        deps.health.updated(family);
        deps.log.info({ family: label.ip_family, full: result.full, services: snapshot.services.size, changed: pending.changed.size, operations: result.operations, ms: this.now() - started }, 'synced proxy rules');

        const status = this.status.get(family) ?? new ServiceStatus();
        status.update(snapshot, full ? undefined : pending.changed);
        const noLocal = status.noLocalEndpoints();
        deps.metrics.noLocalEndpointsTotal.set({ ...label, traffic_policy: 'internal' }, noLocal.internal);
        deps.metrics.noLocalEndpointsTotal.set({ ...label, traffic_policy: 'external' }, noLocal.external);
        await this.cleanupConntrack(snapshot, pending, full, label);
        this.unsynced.delete(family);
      } catch (err) {
        failed = err;
        this.needFull.add(family);
        const counter = backend.mode === 'nftables' ? deps.metrics.nftablesSyncFailuresTotal : deps.metrics.iptablesRestoreFailuresTotal;
        counter.inc(label);
        if (backend.mode === 'iptables' && !full) deps.metrics.iptablesPartialRestoreFailuresTotal.inc(label);
        deps.log.error({ family: label.ip_family, full, err: errorMessage(err) }, 'sync failed; the next sync will be full');
      }
    }
    if (periodicFull && failed === undefined) this.lastFull = this.now();
    await this.publishHealthChecks();
    if (syncedFully) deps.afterFullSync?.();
    if (failed !== undefined) throw failed;
  }

  private async cleanupConntrack(
    snapshot: NonNullable<ReturnType<ProxyState['snapshot']>>,
    pending: { changed: Set<string>; removedUDP: ServicePort[] },
    full: boolean,
    label: { ip_family: 'IPv4' | 'IPv6' },
  ): Promise<void> {
    const touchedUDP = pending.removedUDP.length > 0 || [...pending.changed].some((k) => k.endsWith('/UDP'));
    if (!touchedUDP && !full) return;
    const started = this.now();
    try {
      const deleted = await cleanupStaleUDP(snapshot, pending.removedUDP, new Set(await this.deps.localAddresses()), { log: this.deps.log, cleanup: this.deps.conntrackCleanup });
      this.deps.metrics.conntrackReconcilerDeletedEntriesTotal.inc(label, deleted);
      if (deleted) this.deps.log.info({ family: label.ip_family, deleted }, 'deleted stale UDP conntrack entries');
    } catch (err) {
      // Rules are in place; a missed cleanup only delays recovery of UDP clients.
      this.deps.log.warn({ err: errorMessage(err) }, 'stale UDP conntrack cleanup failed');
    }
    this.deps.metrics.conntrackReconcilerSyncDuration.observe(label, (this.now() - started) / 1000);
  }

  private async publishHealthChecks(): Promise<void> {
    const ports = new Map<string, number>();
    const counts = new Map<string, number>();
    for (const s of this.status.values()) {
      const hc = s.healthChecks();
      for (const [svc, port] of hc.ports) ports.set(svc, port);
      for (const [svc, n] of hc.localEndpoints) counts.set(svc, Math.max(counts.get(svc) ?? 0, n));
    }
    await this.deps.serviceHealth.syncServices(ports);
    this.deps.serviceHealth.syncEndpoints(counts);
  }
}
