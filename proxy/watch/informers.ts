// The proxy's informers: Services and EndpointSlices with kube-proxy's label selector,
// this node only, and ServiceCIDRs (optional: API servers before 1.33 may not serve them). Each relists and rewatches by itself after any failure
// (see informer.ts), so what happened while it was away arrives as ordinary events.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.ts';
import { PROXY_LABEL_SELECTOR } from './objects.ts';
import { Informer, type ResourceHandlers } from '../../lib/kube/informer.ts';

export type { ResourceHandlers } from '../../lib/kube/informer.ts';

export interface ClusterHandlers {
  services: ResourceHandlers;
  endpointSlices: ResourceHandlers;
  nodes: ResourceHandlers;
  serviceCIDRs: ResourceHandlers;
}

export interface ClusterWatch {
  /** Resolves when Services, EndpointSlices, this Node and ServiceCIDRs (or their absence) have been listed once. */
  synced: Promise<void>;
  stop(): Promise<void>;
}

/** Starts the informers; lists that fail are retried with backoff until they succeed. */
export function watchCluster(kc: KubeConfig, nodeName: string, handlers: ClusterHandlers, log: Logger): ClusterWatch {
  const informers = [
    new Informer(kc, { what: 'services', path: '/api/v1/services', labelSelector: PROXY_LABEL_SELECTOR }, handlers.services, log),
    new Informer(kc, { what: 'endpointslices', path: '/apis/discovery.k8s.io/v1/endpointslices', labelSelector: PROXY_LABEL_SELECTOR }, handlers.endpointSlices, log),
    new Informer(kc, { what: 'nodes', path: '/api/v1/nodes', fieldSelector: `metadata.name=${nodeName}` }, handlers.nodes, log),
    new Informer(kc, { what: 'servicecidrs', path: '/apis/networking.k8s.io/v1/servicecidrs', optional: true }, handlers.serviceCIDRs, log),
  ];
  for (const inf of informers) inf.start();
  const synced = Promise.all(informers.map((i) => i.synced)).then(() => undefined);
  return {
    synced,
    stop: async () => {
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}
