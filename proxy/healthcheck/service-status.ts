// Per-ServicePort facts the daemon reports outside the ruleset: health-check node
// ports with their local endpoint counts, and Local policies left without a local
// endpoint (kubeproxy_sync_proxy_rules_no_local_endpoints_total). Updated only for
// the ServicePorts a sync changed.
import { categorizeEndpoints } from '../model/categorize.ts';
import { externallyAccessible, type ProxySnapshot } from '../model/types.ts';

interface Status {
  service: string;
  healthCheckNodePort: number;
  localReady: number;
  noLocalInternal: boolean;
  noLocalExternal: boolean;
}

export class ServiceStatus {
  private readonly byKey = new Map<string, Status>();

  /** Recomputes the given keys (all when undefined) from the snapshot. */
  update(snapshot: ProxySnapshot, changed: Iterable<string> | undefined): void {
    if (!changed) this.byKey.clear();
    for (const key of changed ?? snapshot.services.keys()) {
      const sp = snapshot.services.get(key);
      if (!sp) {
        this.byKey.delete(key);
        continue;
      }
      const eps = snapshot.endpoints.get(key) ?? [];
      const { localEndpoints, hasAnyEndpoints } = categorizeEndpoints(sp, eps, snapshot.node);
      const noLocal = hasAnyEndpoints && localEndpoints.length === 0;
      this.byKey.set(key, {
        service: `${sp.namespace}/${sp.name}`,
        healthCheckNodePort: sp.healthCheckNodePort,
        // Only ready endpoints count: a node whose endpoints are all terminating fails its health check.
        localReady: eps.filter((e) => e.isLocal && e.ready).length,
        noLocalInternal: noLocal && sp.internalPolicyLocal,
        noLocalExternal: noLocal && sp.externalPolicyLocal && externallyAccessible(sp),
      });
    }
  }

  /** Health-check node port and local ready endpoints per Service "ns/name". */
  healthChecks(): { ports: Map<string, number>; localEndpoints: Map<string, number> } {
    const ports = new Map<string, number>();
    const localEndpoints = new Map<string, number>();
    for (const s of this.byKey.values()) {
      if (s.healthCheckNodePort === 0) continue;
      ports.set(s.service, s.healthCheckNodePort);
      localEndpoints.set(s.service, Math.max(localEndpoints.get(s.service) ?? 0, s.localReady));
    }
    return { ports, localEndpoints };
  }

  noLocalEndpoints(): { internal: number; external: number } {
    let internal = 0;
    let external = 0;
    for (const s of this.byKey.values()) {
      if (s.noLocalInternal) internal++;
      if (s.noLocalExternal) external++;
    }
    return { internal, external };
  }
}
