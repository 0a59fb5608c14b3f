// Informers (unchanged @kubernetes/client-node) for the three kinds the proxy reads.
// A client-node informer stops for good after a watch error other than 410; each one
// here is restarted with backoff, and a restart relists, so what happened while it
// was down arrives as ordinary add/update/delete events.
import { CoreV1Api, DiscoveryV1Api, KubeConfig, ListWatch, Watch, type KubernetesObject, type ListPromise } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.ts';
import { errorMessage } from '../../lib/errors.ts';
import { PROXY_LABEL_SELECTOR } from '../objects.ts';

export interface ResourceHandlers {
  /** An object was added or changed (client-node gives only the new version). */
  upsert(obj: unknown): void;
  delete(obj: unknown): void;
}

export interface ClusterHandlers {
  services: ResourceHandlers;
  endpointSlices: ResourceHandlers;
  nodes: ResourceHandlers;
}

const BACKOFF_MS = { first: 200, max: 30_000 };

/**
 * Lists in pages, as kube-apiserver serves large lists (limit/continue), and hands
 * the informer one list. One unpaged list of 10,000 EndpointSlices is a ~20 MB body
 * decoded at once, and the proxy's memory stays at that peak.
 */
const PAGE_SIZE = 500;

interface Page<T> {
  items: T[];
  metadata?: { resourceVersion?: string; _continue?: string };
}

export async function listAllPages<T, L extends Page<T>>(page: (cont: string | undefined) => Promise<L>): Promise<L> {
  const first = await page(undefined);
  const items = first.items;
  for (let cont = first.metadata?._continue; cont; ) {
    const next = await page(cont);
    for (const item of next.items) items.push(item);
    cont = next.metadata?._continue;
  }
  // The first page's version is the snapshot the watch continues from.
  return { ...first, items, metadata: { ...first.metadata, _continue: undefined } };
}

class RestartingInformer {
  private readonly lw: ListWatch<KubernetesObject>;
  private backoff = BACKOFF_MS.first;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private listed!: () => void;
  /** Resolves the first time the initial list has been delivered. */
  readonly synced = new Promise<void>((resolve) => (this.listed = resolve));

  constructor(
    private readonly what: string,
    kc: KubeConfig,
    path: string,
    list: ListPromise<KubernetesObject>,
    handlers: ResourceHandlers,
    private readonly log: Logger,
    selectors: { label?: string; field?: string },
  ) {
    this.lw = new ListWatch(path, new Watch(kc), list, false, selectors.label, selectors.field);
    this.lw.on('add', (o) => handlers.upsert(o));
    this.lw.on('update', (o) => handlers.upsert(o));
    this.lw.on('delete', (o) => handlers.delete(o));
    this.lw.on('error', (err) => this.restartLater(err));
  }

  /**
   * One start of the client-node informer. Its start() resolves whether or not the list
   * worked (a failure goes to the 'error' callback); a resource version tells them apart.
   */
  async attempt(): Promise<void> {
    await this.lw.start();
    if (this.lw.latestResourceVersion() !== '') {
      this.backoff = BACKOFF_MS.first;
      this.listed();
    }
  }

  private restartLater(err: unknown): void {
    if (this.stopped) return;
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MS.max);
    this.log.warn({ resource: this.what, err: errorMessage(err), retryInMs: delay }, 'list/watch failed; restarting informer');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.attempt(), delay);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.lw.stop();
  }
}

export interface ClusterWatch {
  /** Resolves when Services, EndpointSlices and this Node have been listed once. */
  synced: Promise<void>;
  stop(): Promise<void>;
}

/** Starts the informers; lists that fail are retried with backoff until they succeed. */
export function watchCluster(kc: KubeConfig, nodeName: string, handlers: ClusterHandlers, log: Logger): ClusterWatch {
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const informers = [
    new RestartingInformer('services', kc, '/api/v1/services', () => listAllPages((cont) => core.listServiceForAllNamespaces({ labelSelector: PROXY_LABEL_SELECTOR, limit: PAGE_SIZE, _continue: cont })), handlers.services, log, { label: PROXY_LABEL_SELECTOR }),
    new RestartingInformer('endpointslices', kc, '/apis/discovery.k8s.io/v1/endpointslices', () => listAllPages((cont) => discovery.listEndpointSliceForAllNamespaces({ labelSelector: PROXY_LABEL_SELECTOR, limit: PAGE_SIZE, _continue: cont })), handlers.endpointSlices, log, { label: PROXY_LABEL_SELECTOR }),
    new RestartingInformer('nodes', kc, '/api/v1/nodes', () => core.listNode({ fieldSelector: `metadata.name=${nodeName}` }), handlers.nodes, log, { field: `metadata.name=${nodeName}` }),
  ];
  for (const inf of informers) void inf.attempt();
  const synced = Promise.all(informers.map((i) => i.synced)).then(() => undefined);
  return {
    synced,
    stop: async () => {
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}
