// `kpr proxy`: wires informers -> change trackers -> sync runner -> backends, plus the
// health, metrics and health-check-node-port servers. Informer handlers only validate
// and record; all kernel work happens in Syncer.sync, called by the runner.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { errorMessage } from '../lib/errors.ts';
import { loadKubeConfig } from '../lib/kube/kubeconfig.ts';
import type { IPFamily } from '../lib/ip.ts';
import type { Logger } from '../lib/log.ts';
import type { ProxyBackend, RulesConfig } from './backend.ts';
import type { ProxyConfig } from './config/config.ts';
import { kubeProxyConfiguration } from './config/file.ts';
import { ProxyHealth, startProxyHealthServer } from './healthcheck/proxy-health.ts';
import type { RunningServer } from '../lib/http-server.ts';
import { applySysctls, conntrackSysctls } from './conntrack/sysctls.ts';
import { createProxyMetrics, registerNfacctMetrics, startMetricsServer } from './metrics.ts';
import { iptablesTables } from './iptables/apply.ts';
import { parseNfacctList } from './iptables/features.ts';
import { EndpointsChangeTracker, ServiceChangeTracker } from './model/change-tracker.ts';
import { ProxyState } from './model/proxy-state.ts';
import type { NodeInfo } from './model/types.ts';
import { checkMode, createBackend, otherModes } from './modes.ts';
import { localAddresses } from './node/addresses.ts';
import { healthCheckAddresses, rulesConfigFor } from './config/rules-config.ts';
import type { Node } from './watch/objects.ts';
import { podCIDRsOf, writePodCIDRFile } from './node/pod-cidr-file.ts';
import { SyncRunner } from './runner.ts';
import { ServiceHealthServer } from './healthcheck/service-health.ts';
import { Syncer } from './sync.ts';
import { watchCluster } from './watch/informers.ts';
import { proxyEventHandlers } from './watch/handlers.ts';
import { releaseMemory } from '../lib/gc.ts';

/**
 * The families this node can proxy: both, as upstream runs dual-stack whenever it can,
 * but IPv4 only on a kernel booted without IPv6 (whose IPv6 syncs could only fail and
 * would turn /healthz red).
 */
const FAMILIES: IPFamily[] = existsSync('/proc/sys/net/ipv6') ? [4, 6] : [4];
const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** Removes every mode's rules (kpr proxy --cleanup). */
export async function cleanupAll(cfg: ProxyConfig, log: Logger): Promise<void> {
  for (const family of FAMILIES) {
    for (const b of otherModes(undefined, family, cfg, log)) {
      await b.cleanup().catch((err: unknown) => log.warn({ mode: b.mode, family, err: errorMessage(err) }, 'cleanup failed'));
    }
  }
}

export interface RunningProxy {
  /** Resolves once the first sync after the initial lists has finished. */
  firstSync: Promise<void>;
  stop(): Promise<void>;
}

export async function runProxy(cfg: ProxyConfig, log: Logger): Promise<RunningProxy> {
  // First: a client configuration that can never reach the API server stops kpr here, with the fix named.
  const kc = loadKubeConfig(cfg);
  await checkMode(cfg.mode);
  const metrics = createProxyMetrics({ processMetrics: true });
  const health = new ProxyHealth({ healthTimeoutMs: 2 * cfg.syncPeriodMs, counters: { healthz: metrics.proxyHealthzTotal, livez: metrics.proxyLivezTotal } });
  const servers: RunningServer[] = [];
  const bindOrWarn = async (what: string, start: () => Promise<RunningServer>) => {
    try {
      servers.push(await start());
    } catch (err) {
      if (cfg.bindAddressHardFail) throw err;
      log.error({ server: what, err: errorMessage(err) }, 'cannot serve; continuing without it');
    }
  };
  if (cfg.healthzBindAddress) {
    const bind = cfg.healthzBindAddress;
    await bindOrWarn('healthz', () => startProxyHealthServer(bind, health));
  }
  if (cfg.metricsBindAddress) {
    const bind = cfg.metricsBindAddress;
    await bindOrWarn('metrics', () => startMetricsServer(bind, metrics.registry, { proxyMode: cfg.mode, configz: kubeProxyConfiguration(cfg) }));
  }

  // A restart must not interrupt traffic: nothing is flushed here. Other modes'
  // leftovers go (a mode switch), this mode's rules are reconciled by the first sync.
  for (const family of FAMILIES) {
    for (const b of otherModes(cfg.mode, family, cfg, log)) {
      await b.cleanup().catch((err: unknown) => log.warn({ mode: b.mode, family, err: errorMessage(err) }, 'removing leftovers of another mode failed'));
    }
  }
  await applySysctls(conntrackSysctls(cfg.conntrack, availableParallelism()), log);
  const backends: ProxyBackend[] = FAMILIES.map((f) => createBackend(cfg.mode, f, cfg, log));
  if (cfg.mode === 'iptables') {
    // The nfacct objects the iptables rules count into belong to the node's namespace, this one.
    const tables = iptablesTables(4);
    registerNfacctMetrics(metrics.registry, async () => parseNfacctList(await tables.nfacctList()));
  }

  let node: Node | undefined;
  let nodeInfo: NodeInfo = { name: cfg.hostname, zone: '' };
  const services = new ServiceChangeTracker();
  const endpoints = new EndpointsChangeTracker();
  const state = new ProxyState(FAMILIES, nodeInfo);
  // Node addresses decide NodePort addresses; they rarely change, and reading them costs
  // a spawn, so a sync re-reads them only when the last read is older than this.
  const ADDRESS_REFRESH_MS = 10_000;
  let addresses: readonly string[] = await localAddresses();
  let addressesRead = Date.now();
  const currentAddresses = async () => {
    if (Date.now() - addressesRead > ADDRESS_REFRESH_MS) {
      addresses = await localAddresses();
      addressesRead = Date.now();
    }
    return addresses;
  };
  const serviceHealth = new ServiceHealthServer({ isProxyHealthy: () => health.isHealthy(), addresses: () => healthCheckAddresses(cfg, node, addresses), log });

  /** Each ServiceCIDR object's CIDRs, by name: their union is what nftables mode guards. */
  const serviceCIDRs = new Map<string, readonly string[]>();
  const rulesConfig = async (family: IPFamily): Promise<RulesConfig> =>
    rulesConfigFor(cfg, family, node, await currentAddresses(), [...serviceCIDRs.values()].flat());
  const syncer = new Syncer({
    state, services, endpoints, backends, rulesConfig, metrics, health, serviceHealth, log,
    node: () => nodeInfo,
    localAddresses: currentAddresses,
    afterFullSync: () => void releaseMemory(log, 'released the full sync\'s memory'),
  });
  let firstSynced!: () => void;
  const firstSync = new Promise<void>((resolve) => (firstSynced = resolve));
  const runner = new SyncRunner({
    minInterval: cfg.minSyncPeriodMs,
    maxInterval: cfg.syncPeriodMs,
    retryInterval: Math.min(cfg.syncPeriodMs, 5000),
    sync: async () => {
      await syncer.sync();
      firstSynced();
    },
    log,
  });

  let synced = false;
  const changed = () => {
    for (const f of FAMILIES) health.queued(f);
    metrics.serviceChangesPending.set(services.pendingCount);
    metrics.endpointChangesPending.set(endpoints.pendingCount);
    if (synced) runner.run();
  };
  const handlers = proxyEventHandlers({
    services, endpoints, serviceCIDRs, changed, log,
    serviceRecorded: () => metrics.serviceChangesTotal.inc(),
    sliceRecorded: (trigger) => {
      metrics.endpointChangesTotal.inc();
      if (trigger !== undefined) syncer.noteTrigger(trigger);
    },
    node: (n) => {
      node = n;
      health.setNode(n);
      nodeInfo = { name: cfg.hostname, zone: n.metadata.labels[ZONE_LABEL] ?? '' };
      const cidrs = podCIDRsOf(n);
      if (cfg.podCIDRFile && cidrs.length) {
        writePodCIDRFile(cfg.podCIDRFile, cidrs).then(
          (wrote) => wrote && log.info({ file: cfg.podCIDRFile, podCIDRs: cidrs }, 'wrote the pod CIDR file for kpr-ipam'),
          (err: unknown) => log.error({ file: cfg.podCIDRFile, err: errorMessage(err) }, 'cannot write the pod CIDR file'),
        );
      }
    },
  });
  const watch = watchCluster(kc, cfg.hostname, handlers, log);

  // Never sync before the initial lists: a half-empty first sync would drop rules.
  void watch.synced.then(async () => {
    log.info({ mode: cfg.mode, node: cfg.hostname }, 'initial lists complete; syncing');
    // The lists' garbage (every object's JSON and its parse) goes before the first sync
    // makes its own: the process' peak is the two together otherwise.
    await releaseMemory(log, 'released the initial lists\' memory');
    synced = true;
    runner.start();
    runner.run();
  });
  return {
    firstSync,
    async stop() {
      await watch.stop();
      await runner.stop();
      await serviceHealth.close();
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}
