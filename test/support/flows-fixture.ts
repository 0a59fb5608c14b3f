// Programs a flow-table cluster straight into a backend (no API server, no daemon):
// the fastest way to hold a mode's rules against the table.
import { afterAll, beforeAll } from 'vitest';
import type { IPFamily } from '../../lib/ip.ts';
import { pinBuiltKpr } from './built-kpr.ts';
import type { ProxyBackend, RulesConfig } from '../../proxy/backend.ts';
import { ProxyState } from '../../proxy/model/proxy-state.ts';
import type { ProxySnapshot } from '../../proxy/model/types.ts';
import { rulesConfig as modelRulesConfig, shuffled } from './proxy-model.ts';
import { cidrsOfFamily } from '../../proxy/config/rules-config.ts';
import { selectedByProxy, type Service } from '../../proxy/watch/objects.ts';
import { EndpointsChangeTracker, ServiceChangeTracker, type SliceChanges } from '../../proxy/model/change-tracker.ts';
import { proxyEventHandlers } from '../../proxy/watch/handlers.ts';
import type { ResourceHandlers } from '../../proxy/watch/informers.ts';
import { createLogger } from '../../lib/log.ts';
import { CLUSTER_CIDRS, NODE_IP, NODE_NAME, NODE_ZONE, Topology } from '../../lab/topology.ts';
import { OBJECTS } from '../../lab/flow-table.ts';
import { iptablesTables } from '../../proxy/iptables/apply.ts';
import { IptablesProxier } from '../../proxy/iptables/proxier.ts';
import { NftablesProxier } from '../../proxy/nftables/proxier.ts';
import type { Obj } from '../../lab/objects.ts';

/** The flow-table node's rules settings (the model builder's, on this topology). */
export function rulesConfig(family: IPFamily, over: Partial<RulesConfig> = {}): RulesConfig {
  return modelRulesConfig({
    family,
    localDetector: { mode: 'ClusterCIDR', cidrs: CLUSTER_CIDRS },
    nodeIP: family === 4 ? NODE_IP.ip4 : NODE_IP.ip6,
    localhostNodePorts: true,
    ...over,
  });
}

/**
 * Turns API objects into tracker changes through the daemon's own event handlers, as
 * its informers deliver them: only what kube-proxy's label selector lets through (a
 * Service of another proxy never arrives). Also the union of the ServiceCIDRs' CIDRs.
 */
export function changesFrom(objects: readonly Obj[]): { services: Map<string, Service | null>; slices: SliceChanges; serviceCIDRs: string[] } {
  const services = new ServiceChangeTracker();
  const endpoints = new EndpointsChangeTracker();
  const serviceCIDRs = new Map<string, readonly string[]>();
  const handlers = proxyEventHandlers({
    services, endpoints, serviceCIDRs, log: createLogger('flows-fixture'),
    node: () => {}, serviceRecorded: () => {}, sliceRecorded: () => {}, changed: () => {},
  });
  const byKind: Record<string, ResourceHandlers> = { Service: handlers.services, EndpointSlice: handlers.endpointSlices, ServiceCIDR: handlers.serviceCIDRs };
  for (const o of objects) {
    const labels = (o.metadata as { labels?: Record<string, string> }).labels;
    if (o.kind !== 'ServiceCIDR' && !selectedByProxy(labels)) continue;
    byKind[o.kind]?.upsert(o);
  }
  return { services: services.drain(), slices: endpoints.drain(), serviceCIDRs: [...serviceCIDRs.values()].flat() };
}

export function newState(): ProxyState {
  return new ProxyState([4, 6], { name: NODE_NAME, zone: NODE_ZONE });
}

/** A family's snapshot of a cluster, its objects applied in the order given. */
export function snapshotOf(objects: readonly Obj[], family: IPFamily): ProxySnapshot {
  const state = newState();
  const { services, slices } = changesFrom(objects);
  state.apply(services, slices);
  const snapshot = state.snapshot(family);
  if (!snapshot) throw new Error(`no IPv${family} snapshot`);
  return snapshot;
}

/** The objects in a seeded order, each slice's endpoints too: any order the informers may deliver. */
export function shuffledObjects(objects: readonly Obj[], seed: number): Obj[] {
  return shuffled(objects, seed).map((o, i) =>
    Array.isArray(o.endpoints) ? { ...o, endpoints: shuffled(o.endpoints as unknown[], seed + i) } : o,
  );
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

/** The flow-table topology with its servers, both families programmed by an in-process proxier of `mode`. */
export async function programmedTopology(mode: 'iptables' | 'nftables'): Promise<Topology> {
  const topo = await Topology.create();
  await topo.startServers({ tcp: [8080], udp: [5353] });
  const wrap = ['ip', 'netns', 'exec', topo.node.name];
  await program(newState(), ([4, 6] as const).map((family) => (mode === 'iptables'
    ? new IptablesProxier({ family, tables: iptablesTables(family, wrap) })
    : new NftablesProxier({ family, command: [...wrap, 'nft'] }))), OBJECTS, true);
  return topo;
}

/**
 * For a describe block: the flow-table topology programmed by `mode`, and `kpr(args)`
 * running the built executable in its node namespace; both removed after the block.
 */
export function programmedNodeWithKpr(mode: 'iptables' | 'nftables') {
  let pinned: ReturnType<typeof pinBuiltKpr> | undefined;
  const ctx = {
    topo: undefined as unknown as Topology,
    kpr: (args: readonly string[]) => {
      if (!pinned) throw new Error('kpr runs inside its describe block only');
      return ctx.topo.node.exec(pinned.kpr, args, { allowFailure: true });
    },
  };
  beforeAll(async () => {
    pinned = pinBuiltKpr();
    ctx.topo = await programmedTopology(mode);
  });
  afterAll(async () => {
    await ctx.topo?.destroy();
    pinned?.release();
  });
  return ctx;
}
