// The informers' event handlers: validate each object at the edge and record it in the
// change trackers, nothing more (the sync does the work). An invalid object is logged
// by name and skipped, so its last valid version stays in effect.
import { errorMessage } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { EndpointsChangeTracker, ServiceChangeTracker } from '../model/change-tracker.ts';
import type { ClusterHandlers, ResourceHandlers } from './informers.ts';
import { parseEndpointSlice, parseNode, parseService, parseServiceCIDR, SERVICE_NAME_LABEL, type Node } from './objects.ts';

const TRIGGER_TIME_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';

export interface EventSinks {
  services: ServiceChangeTracker;
  endpoints: EndpointsChangeTracker;
  /** Each ServiceCIDR object's CIDRs, by name: their union is what nftables mode guards. */
  serviceCIDRs: Map<string, readonly string[]>;
  /** This node's object, whenever it changes (its delete is ignored: the last one stays). */
  node(node: Node): void;
  /** A Service change was recorded. */
  serviceRecorded(): void;
  /** A slice change was recorded, with its trigger time when the slice carries one. */
  sliceRecorded(triggerTime: number | undefined): void;
  /** After every valid event, whatever it changed. */
  changed(): void;
  log: Logger;
}

interface Meta {
  namespace?: string;
  name?: string;
  annotations?: Record<string, string>;
}
const metaOf = (raw: unknown): Meta => (raw as { metadata?: Meta } | null)?.metadata ?? {};

/** The handlers of the proxy's four informers, recording into `sinks`. */
export function proxyEventHandlers(sinks: EventSinks): ClusterHandlers {
  const { log } = sinks;
  const handle = <T>(kind: string, parse: (raw: unknown) => T, record: (obj: T | null, raw: unknown) => void): ResourceHandlers => ({
    upsert(raw) {
      let obj: T;
      try {
        obj = parse(raw);
      } catch (err) {
        log.error({ kind, err: errorMessage(err) }, 'ignoring invalid object; its last valid version stays in effect');
        return;
      }
      record(obj, raw);
      sinks.changed();
    },
    delete(raw) {
      record(null, raw);
      sinks.changed();
    },
  });
  /**
   * The Service each slice was recorded under ("ns/slice" -> "ns/service"): a delete
   * found by a relist carries only the slice's name.
   */
  const sliceOwners = new Map<string, string>();

  return {
    services: handle('Service', parseService, (svc, raw) => {
      const md = metaOf(raw);
      sinks.services.update(`${md.namespace}/${md.name}`, svc);
      sinks.serviceRecorded();
    }),
    endpointSlices: handle('EndpointSlice', parseEndpointSlice, (slice, raw) => {
      const md = metaOf(raw);
      const sliceKey = `${md.namespace}/${md.name}`;
      const previousOwner = sliceOwners.get(sliceKey);
      const owner = slice ? `${md.namespace}/${slice.metadata.labels[SERVICE_NAME_LABEL]}` : previousOwner;
      // A slice relabelled to another Service leaves the old one.
      if (previousOwner && previousOwner !== owner) sinks.endpoints.update(previousOwner, sliceKey, null);
      if (!owner) return;
      if (slice) sliceOwners.set(sliceKey, owner);
      else sliceOwners.delete(sliceKey);
      sinks.endpoints.update(owner, sliceKey, slice);
      const trigger = Date.parse(md.annotations?.[TRIGGER_TIME_ANNOTATION] ?? '');
      sinks.sliceRecorded(Number.isNaN(trigger) ? undefined : trigger);
    }),
    nodes: handle('Node', parseNode, (n) => {
      if (n) sinks.node(n);
    }),
    serviceCIDRs: handle('ServiceCIDR', parseServiceCIDR, (sc, raw) => {
      const name = metaOf(raw).name ?? '';
      if (sc) sinks.serviceCIDRs.set(name, sc.spec.cidrs);
      else sinks.serviceCIDRs.delete(name);
    }),
  };
}
