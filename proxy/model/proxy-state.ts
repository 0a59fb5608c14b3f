// The proxy's view of the cluster, kept per IP family and updated in place from the
// change trackers. `apply` recomputes only the Services that changed and reports
// which ServicePorts really differ, which is what makes partial syncs possible. No
// parsed object is kept: a Service lives on as its ServicePorts, a slice as its
// SliceEndpoints, which is all that recomputation needs.
import { isDeepStrictEqual } from 'node:util';
import type { IPFamily } from '../../lib/ip.ts';
import type { Service } from '../watch/objects.ts';
import type { SliceChanges } from './change-tracker.ts';
import { endpointsOf, sliceEndpointsOf, type SkippedEndpoint, type SliceEndpoints } from './endpoints.ts';
import { servicePortsOf } from './service-ports.ts';
import type { Endpoint, NodeInfo, ProxySnapshot, ServicePort } from './types.ts';

export interface FamilyChanges {
  /** ServicePort keys whose Service or endpoints changed (added, updated or removed). */
  changed: Set<string>;
  /** Previous endpoints of changed UDP ServicePorts, for stale conntrack cleanup. */
  previousUDP: Map<string, { service: ServicePort; endpoints: readonly Endpoint[] }>;
}

class FamilyState implements ProxySnapshot {
  readonly services = new Map<string, ServicePort>();
  readonly endpoints = new Map<string, Endpoint[]>();
  /** ServicePort keys of each Service, so a Service's ports can be replaced as a unit. */
  private readonly portsOfService = new Map<string, Set<string>>();

  constructor(
    readonly family: IPFamily,
    public node: NodeInfo,
  ) {}

  /** Every Service (ns/name) that has ServicePorts in this family. */
  serviceNames(): IterableIterator<string> {
    return this.portsOfService.keys();
  }

  /**
   * Recomputes one Service (ns/name) from its ServicePorts (undefined: unchanged, the
   * current ones) and its slices.
   */
  recompute(nsName: string, newPorts: readonly ServicePort[] | undefined, slices: readonly SliceEndpoints[], out: FamilyChanges): void {
    const ports = newPorts ?? [...(this.portsOfService.get(nsName) ?? [])].flatMap((key) => this.services.get(key) ?? []);
    const eps = ports.length ? endpointsOf(slices, this.family, this.node.name) : new Map<string, Endpoint[]>();
    const oldKeys = this.portsOfService.get(nsName) ?? new Set<string>();
    const newKeys = new Set(ports.map((p) => p.key));
    for (const key of oldKeys) {
      if (newKeys.has(key)) continue;
      this.noteChange(key, out);
      this.services.delete(key);
      this.endpoints.delete(key);
    }
    for (const sp of ports) {
      const nextEps = eps.get(sp.key) ?? [];
      const prev = this.services.get(sp.key);
      if (prev && isDeepStrictEqual(prev, sp) && isDeepStrictEqual(this.endpoints.get(sp.key), nextEps)) continue;
      this.noteChange(sp.key, out);
      this.services.set(sp.key, sp);
      this.endpoints.set(sp.key, nextEps);
    }
    if (newKeys.size) this.portsOfService.set(nsName, newKeys);
    else this.portsOfService.delete(nsName);
  }

  private noteChange(key: string, out: FamilyChanges): void {
    out.changed.add(key);
    const prev = this.services.get(key);
    if (prev?.protocol === 'UDP' && !out.previousUDP.has(key)) {
      out.previousUDP.set(key, { service: prev, endpoints: this.endpoints.get(key) ?? [] });
    }
  }
}

export class ProxyState {
  /** What each slice left, by owning Service ("ns/service"), then by "ns/slice". */
  private readonly slices = new Map<string, Map<string, SliceEndpoints>>();
  readonly families: ReadonlyMap<IPFamily, FamilyState>;

  constructor(families: readonly IPFamily[], node: NodeInfo) {
    this.families = new Map(families.map((f) => [f, new FamilyState(f, node)]));
  }

  snapshot(family: IPFamily): ProxySnapshot | undefined {
    return this.families.get(family);
  }

  get node(): NodeInfo {
    return [...this.families.values()][0]?.node ?? { name: '', zone: '' };
  }

  /**
   * Applies drained changes. With `recomputeAll` (node topology changed) every Service
   * is recomputed. Returns, per family, what really changed.
   */
  apply(
    serviceChanges: Map<string, Service | null>,
    sliceChanges: SliceChanges,
    opts: { node?: NodeInfo; skipped?: SkippedEndpoint[] } = {},
  ): Map<IPFamily, FamilyChanges> {
    const touched = new Set<string>(serviceChanges.keys());
    for (const [svcName, changes] of sliceChanges) {
      let slices = this.slices.get(svcName);
      if (!slices) this.slices.set(svcName, (slices = new Map()));
      for (const [sliceName, slice] of changes) {
        if (slice) slices.set(sliceName, sliceEndpointsOf(slice, opts.skipped));
        else slices.delete(sliceName);
      }
      if (slices.size === 0) this.slices.delete(svcName);
      touched.add(svcName);
    }
    const nodeChanged = opts.node !== undefined && !isDeepStrictEqual(opts.node, this.node);
    if (nodeChanged) {
      for (const fs of this.families.values()) {
        fs.node = opts.node as NodeInfo;
        for (const name of fs.serviceNames()) touched.add(name);
      }
    }
    const result = new Map<IPFamily, FamilyChanges>();
    for (const [family, fs] of this.families) {
      const out: FamilyChanges = { changed: new Set(), previousUDP: new Map() };
      for (const nsName of touched) {
        const svc = serviceChanges.get(nsName);
        const ports = svc === undefined ? undefined : svc ? servicePortsOf(svc, family) : [];
        fs.recompute(nsName, ports, [...(this.slices.get(nsName)?.values() ?? [])], out);
      }
      result.set(family, out);
    }
    return result;
  }
}
