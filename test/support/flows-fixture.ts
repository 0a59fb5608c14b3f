// Programs a flow-table cluster straight into a backend (no API server, no daemon):
// the fastest way to hold a mode's rules against the table.
import type { IPFamily } from '../../lib/ip.ts';
import type { ProxyBackend, RulesConfig } from '../../proxy/backend.ts';
import { ProxyState } from '../../proxy/model/proxy-state.ts';
import { cidrsOfFamily } from '../../proxy/config/rules-config.ts';
import { parseEndpointSlice, parseService, parseServiceCIDR, selectedByProxy, SERVICE_NAME_LABEL, type EndpointSlice, type Service } from '../../proxy/watch/objects.ts';
import type { SliceChanges } from '../../proxy/model/change-tracker.ts';
import { CLUSTER_CIDRS, NODE_IP, NODE_NAME, NODE_ZONE } from '../../lab/topology.ts';
import type { Obj } from '../../lab/objects.ts';

export function rulesConfig(family: IPFamily, over: Partial<RulesConfig> = {}): RulesConfig {
  return {
    family,
    masqueradeAll: false,
    masqueradeMark: '0x4000',
    localDetector: { mode: 'ClusterCIDR', cidrs: CLUSTER_CIDRS },
    nodePortIPs: undefined,
    nodeIP: family === 4 ? NODE_IP.ip4 : NODE_IP.ip6,
    localhostNodePorts: true,
    conntrackTCPLiberal: false,
    ...over,
  };
}

/**
 * Turns API objects into tracker-style changes, dropping what a default proxy does not
 * select, and the union of the ServiceCIDR objects' CIDRs.
 */
export function changesFrom(objects: readonly Obj[]): { services: Map<string, Service | null>; slices: SliceChanges; serviceCIDRs: string[] } {
  const services = new Map<string, Service | null>();
  const serviceCIDRs: string[] = [];
  const unselected = new Set<string>();
  const slices: SliceChanges = new Map();
  for (const o of objects) {
    if (o.kind === 'Service') {
      const svc = parseService(o);
      const name = `${svc.metadata.namespace}/${svc.metadata.name}`;
      if (selectedByProxy(svc.metadata.labels)) services.set(name, svc);
      else unselected.add(name);
    } else if (o.kind === 'EndpointSlice') {
      const s: EndpointSlice = parseEndpointSlice(o);
      const owner = `${s.metadata.namespace}/${s.metadata.labels[SERVICE_NAME_LABEL]}`;
      if (!slices.has(owner)) slices.set(owner, new Map());
      slices.get(owner)?.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
    } else if (o.kind === 'ServiceCIDR') {
      serviceCIDRs.push(...parseServiceCIDR(o).spec.cidrs);
    }
  }
  // A slice of a Service that another proxy handles is not ours to program.
  for (const owner of unselected) slices.delete(owner);
  return { services, slices, serviceCIDRs };
}

export function newState(): ProxyState {
  return new ProxyState([4, 6], { name: NODE_NAME, zone: NODE_ZONE });
}

/** Applies objects to the state and syncs every backend (full when `full`), with config overrides. */
export async function program(
  state: ProxyState,
  backends: readonly ProxyBackend[],
  objects: readonly Obj[],
  full: boolean,
  config: (family: IPFamily) => Partial<RulesConfig> = () => ({}),
): Promise<void> {
  const { services, slices, serviceCIDRs } = changesFrom(objects);
  const changes = state.apply(services, slices);
  for (const b of backends) {
    const snapshot = state.snapshot(b.family);
    if (!snapshot) continue;
    await b.sync({ snapshot, config: rulesConfig(b.family, { serviceCIDRs: cidrsOfFamily(serviceCIDRs, b.family), ...config(b.family) }), changed: full ? undefined : changes.get(b.family)?.changed });
  }
}
