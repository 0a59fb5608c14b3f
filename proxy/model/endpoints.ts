// EndpointSlices of one Service -> Endpoints per ServicePort (upstream's
// EndpointSliceCache). Only the first address of an endpoint counts, endpoints of the
// other family are ignored, duplicates across slices collapse, and the result is
// sorted by "ip:port" so that renderers are deterministic.
import { normalizeIP, type IPFamily } from '../../lib/ip.ts';
import type { EndpointSlice } from '../objects.ts';
import { endpointString, type Endpoint, type Protocol } from './types.ts';
import { servicePortName } from './service-ports.ts';

export interface SkippedEndpoint {
  slice: string;
  address: string;
  reason: string;
}

/**
 * Endpoints of one Service, keyed by ServicePort key ("ns/name:port/PROTO"). Invalid
 * addresses are reported through `skipped` and left out, so that one bad address
 * costs one endpoint.
 */
export function endpointsOf(
  slices: readonly EndpointSlice[],
  family: IPFamily,
  nodeName: string,
  skipped: SkippedEndpoint[] = [],
): Map<string, Endpoint[]> {
  const addressType = family === 4 ? 'IPv4' : 'IPv6';
  const byKey = new Map<string, Map<string, Endpoint>>();
  const sorted = [...slices].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  for (const slice of sorted) {
    if (slice.addressType !== addressType) continue;
    const { namespace } = slice.metadata;
    const service = slice.metadata.labels['kubernetes.io/service-name'] ?? '';
    for (const p of slice.ports) {
      if (p.port === null || p.port === undefined || p.port <= 0 || p.port > 65535) continue;
      const protocol: Protocol = p.protocol ?? 'TCP';
      const key = `${servicePortName(namespace, service, p.name ?? '')}/${protocol}`;
      let eps = byKey.get(key);
      if (!eps) byKey.set(key, (eps = new Map()));
      for (const e of slice.endpoints) {
        const raw = e.addresses[0] ?? '';
        const ip = normalizeIP(raw);
        if (!ip || ip.includes(':') !== (family === 6)) {
          skipped.push({ slice: `${namespace}/${slice.metadata.name}`, address: raw, reason: 'not an IP address of the slice family' });
          continue;
        }
        const c = e.conditions ?? {};
        // Unset conditions mean ready and serving, not terminating (the API's defaults).
        const ready = c.ready ?? true;
        const ep: Endpoint = {
          ip,
          port: p.port,
          isLocal: !!e.nodeName && e.nodeName === nodeName,
          ready,
          serving: c.serving ?? true,
          terminating: c.terminating ?? false,
          zoneHints: (e.hints?.forZones ?? []).map((z) => z.name).sort(),
          nodeHints: (e.hints?.forNodes ?? []).map((n) => n.name).sort(),
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
