// `kpr network`: one informer on Nodes (handlers only record), a runner that reconciles
// once the first complete list is in, the health and metrics servers.
import { realClock, type Clock } from '../lib/clock.ts';
import { errorMessage, KprError } from '../lib/errors.ts';
import { commandExists } from '../lib/exec.ts';
import type { RunningServer } from '../lib/http-server.ts';
import { Informer } from '../lib/kube/informer.ts';
import type { Logger } from '../lib/log.ts';
import type { NetworkConfig } from './config.ts';
import { enableForwarding } from './kernel.ts';
import { createNetworkMetrics, NetworkHealth, startHealthServer, startMetricsServer } from './metrics.ts';
import { loadKubeConfig, nodePatcher } from './node-api.ts';
import { Reconciler } from './reconcile.ts';
import { ReconcileRunner } from './runner.ts';
import { NetworkError } from './errors.ts';

/** Changes arriving within this time are programmed together. */
const DEBOUNCE_MS = 20;

export interface RunningAgent {
  /** Resolves after the first completed reconcile (node file written, routes programmed). */
  ready: Promise<void>;
  stop(): Promise<void>;
}

/** The tools every reconcile runs: missing one is a reason to exit at once, not to fail forever. */
const TOOLS = ['ip', 'bridge', 'nft'];

export async function runAgent(cfg: NetworkConfig, log: Logger, clock: Clock = realClock): Promise<RunningAgent> {
  for (const tool of TOOLS) {
    if (!(await commandExists(tool))) throw new NetworkError('MISSING_TOOL', `${tool} is not in PATH (kpr network needs iproute2 and nftables)`);
  }
  const metrics = createNetworkMetrics({ processMetrics: true });
  const health = new NetworkHealth(clock, 2 * cfg.syncPeriodMs + 10_000);
  const servers: RunningServer[] = [];
  if (cfg.healthzBindAddress) servers.push(await startHealthServer(cfg.healthzBindAddress, health));
  if (cfg.metricsBindAddress) servers.push(await startMetricsServer(cfg.metricsBindAddress, metrics.registry));
  await enableForwarding();

  const kc = loadKubeConfig(cfg.kubeconfig);
  const reconciler = new Reconciler(cfg, metrics, nodePatcher(kc, cfg.nodeName), log);
  let firstReady!: () => void;
  const ready = new Promise<void>((resolve) => (firstReady = resolve));
  const runner = new ReconcileRunner({
    debounceMs: DEBOUNCE_MS, periodMs: cfg.syncPeriodMs, retryMs: 1000, clock,
    reconcile: async () => {
      const result = await reconciler.reconcile();
      // Entries that failed are logged, counted and retried; the node itself is programmed.
      if (result !== 'failed') {
        health.reconciled();
        firstReady();
      }
      return result === 'clean';
    },
  });
  let listed = false;
  const informer = new Informer(kc, { what: 'nodes', path: '/api/v1/nodes' }, {
    upsert: (raw) => { if (reconciler.upsert(raw) && listed) runner.request(); },
    delete: (raw) => { if (reconciler.delete(raw) && listed) runner.request(); },
  }, log);
  informer.start();
  void informer.synced.then(() => {
    listed = true;
    log.info({ node: cfg.nodeName, backend: cfg.backend, directRouting: cfg.directRouting }, 'initial list of Nodes complete; programming');
    runner.request();
  });
  return {
    ready,
    async stop() {
      await informer.stop();
      await runner.stop();
      await Promise.all(servers.map((s) => s.close().catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'closing a server failed'))));
    },
  };
}
