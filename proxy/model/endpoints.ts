// EndpointSlices of one Service -> Endpoints per ServicePort (upstream's
// EndpointSliceCache). Each slice is boiled down once, when it arrives, to what the
// endpoints are built from (`SliceEndpoints`), so the model keeps no parsed slices.
// Only the first address of an endpoint counts, endpoints of the other family are
// ignored, duplicates across slices collapse, and the result is sorted by "ip:port" so
// that renderers are deterministic.
import { normalizeIP, type IPFamily } from '../../lib/ip.ts';
import type { EndpointSlice } from '../watch/objects.ts';
import { endpointString, type Endpoint, type Protocol } from './types.ts';
import { servicePortName } from './service-ports.ts';

export interface SkippedEndpoint {
  slice: string;
  address: string;
  reason: string;
}

/** One endpoint of a slice, before it is paired with the slice's ports. */
interface SliceEndpoint {
  ip: string;
  nodeName: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  zoneHints: readonly string[];
  nodeHints: readonly string[];
}

/** What the model keeps of one EndpointSlice. */
export interface SliceEndpoints {
  /** The slice's name, which orders slices (the first copy of a duplicate wins ties). */
  name: string;
  /** Undefined for FQDN slices, which the proxy ignores. */
  family: IPFamily | undefined;
  /** ServicePort key ("ns/name:port/PROTO") and target port of each valid slice port. */
  ports: readonly { key: string; port: number }[];
  endpoints: readonly SliceEndpoint[];
}

// Most endpoints have no hints: one shared empty list instead of two arrays each.
const NONE: readonly string[] = Object.freeze([]);
const names = (list: readonly { name: string }[] | null | undefined): readonly string[] => (list?.length ? list.map((z) => z.name).sort() : NONE);

/** Boils a validated slice down; invalid addresses are reported through `skipped` and left out. */
export function sliceEndpointsOf(slice: EndpointSlice, skipped: SkippedEndpoint[] = []): SliceEndpoints {
  const { namespace, name } = slice.metadata;
  const family = slice.addressType === 'IPv4' ? 4 : slice.addressType === 'IPv6' ? 6 : undefined;
  if (family === undefined) return { name, family, ports: [], endpoints: [] };
  const service = slice.metadata.labels['kubernetes.io/service-name'] ?? '';
  const ports: { key: string; port: number }[] = [];
  for (const p of slice.ports) {
    if (p.port === null || p.port === undefined || p.port <= 0 || p.port > 65535) continue;
    const protocol: Protocol = p.protocol ?? 'TCP';
    ports.push({ key: `${servicePortName(namespace, service, p.name ?? '')}/${protocol}`, port: p.port });
  }
  const endpoints: SliceEndpoint[] = [];
  for (const e of slice.endpoints) {
    const raw = e.addresses[0] ?? '';
    const ip = normalizeIP(raw);
    if (!ip || ip.includes(':') !== (family === 6)) {
      skipped.push({ slice: `${namespace}/${name}`, address: raw, reason: 'not an IP address of the slice family' });
      continue;
    }
    const c = e.conditions ?? {};
    // Unset conditions mean ready and serving, not terminating (the API's defaults).
    endpoints.push({
      ip,
      nodeName: e.nodeName ?? '',
      ready: c.ready ?? true,
      serving: c.serving ?? true,
      terminating: c.terminating ?? false,
      zoneHints: names(e.hints?.forZones),
      nodeHints: names(e.hints?.forNodes),
    });
  }
  return { name, family, ports, endpoints };
}

/** Endpoints of one Service in one family, keyed by ServicePort key. */
export function endpointsOf(slices: readonly SliceEndpoints[], family: IPFamily, nodeName: string): Map<string, Endpoint[]> {
  const byKey = new Map<string, Map<string, Endpoint>>();
  const sorted = [...slices].sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const slice of sorted) {
    if (slice.family !== family) continue;
    for (const p of slice.ports) {
      let eps = byKey.get(p.key);
      if (!eps) byKey.set(p.key, (eps = new Map()));
      for (const e of slice.endpoints) {
        const ep: Endpoint = {
          ip: e.ip,
          port: p.port,
          isLocal: !!e.nodeName && e.nodeName === nodeName,
          ready: e.ready,
          serving: e.serving,
          terminating: e.terminating,
          zoneHints: e.zoneHints,
          nodeHints: e.nodeHints,
        };
        const id = endpointString(ep);
        const prev = eps.get(id);
        // The same endpoint in two slices (e.g. during a slice rewrite): prefer the ready copy.
        if (!prev || (!prev.ready && ep.ready)) eps.set(id, ep);
      }
    }
  }
  const out = new Map<string, Endpoint[]>();
  for (const [key, eps] of byKey) {
    out.set(key, [...eps.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, ep]) => ep));
  }
  return out;
}
