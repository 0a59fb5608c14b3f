// Which endpoints a ServicePort's traffic may use (upstream's CategorizeEndpoints):
// Cluster-policy traffic uses ready endpoints, narrowed by topology hints, falling
// back to serving-and-terminating ones when none is ready anywhere; Local-policy
// traffic uses this node's ready endpoints, or its serving-and-terminating ones.
import { usesClusterEndpoints, usesLocalEndpoints, endpointString, type Endpoint, type NodeInfo, type ServicePort } from './types.ts';

export interface CategorizedEndpoints {
  /** Endpoints for Cluster-policy traffic; empty when the policy is unused or nothing is usable. */
  clusterEndpoints: Endpoint[];
  /** Endpoints for Local-policy traffic; empty when unused or none on this node. */
  localEndpoints: Endpoint[];
  /** Union of both: every endpoint some traffic of this ServicePort may reach. */
  allReachableEndpoints: Endpoint[];
  /** Any usable endpoint anywhere: decides REJECT (none) versus DROP (none local). */
  hasAnyEndpoints: boolean;
}

type TopologyMode = '' | 'PreferSameNode' | 'PreferSameZone';

function topologyModeFromHints(endpoints: readonly Endpoint[], node: NodeInfo): TopologyMode {
  let allHaveNodeHints = true;
  let hasForNode = false;
  let allHaveZoneHints = true;
  let hasForZone = false;
  for (const ep of endpoints) {
    if (!ep.ready) continue;
    if (ep.nodeHints.length === 0) allHaveNodeHints = false;
    else if (ep.nodeHints.includes(node.name)) hasForNode = true;
    if (ep.zoneHints.length === 0) allHaveZoneHints = false;
    else if (node.zone !== '' && ep.zoneHints.includes(node.zone)) hasForZone = true;
  }
  if (allHaveNodeHints && hasForNode) return 'PreferSameNode';
  if (allHaveZoneHints && hasForZone) return 'PreferSameZone';
  return '';
}

function availableForTopology(ep: Endpoint, mode: TopologyMode, node: NodeInfo): boolean {
  if (mode === 'PreferSameNode') return ep.nodeHints.includes(node.name);
  if (mode === 'PreferSameZone') return ep.zoneHints.includes(node.zone);
  return true;
}

const servingTerminating = (ep: Endpoint) => ep.serving && ep.terminating;

export function categorizeEndpoints(sp: ServicePort, endpoints: readonly Endpoint[], node: NodeInfo): CategorizedEndpoints {
  let clusterEndpoints: Endpoint[] = [];
  let localEndpoints: Endpoint[] = [];
  let hasAnyEndpoints = false;

  if (usesClusterEndpoints(sp)) {
    const mode = topologyModeFromHints(endpoints, node);
    clusterEndpoints = endpoints.filter((ep) => ep.ready && availableForTopology(ep, mode, node));
    // Topology never empties the list (a mode is chosen only when it keeps an
    // endpoint), so an empty list means nothing is ready anywhere.
    if (clusterEndpoints.length === 0) clusterEndpoints = endpoints.filter(servingTerminating);
    hasAnyEndpoints = clusterEndpoints.length > 0;
  }
  if (!usesLocalEndpoints(sp)) {
    return { clusterEndpoints, localEndpoints, allReachableEndpoints: clusterEndpoints, hasAnyEndpoints };
  }

  let localReady = false;
  let localServingTerminating = false;
  for (const ep of endpoints) {
    if (ep.ready) {
      hasAnyEndpoints = true;
      if (ep.isLocal) localReady = true;
    } else if (servingTerminating(ep)) {
      hasAnyEndpoints = true;
      if (ep.isLocal) localServingTerminating = true;
    }
  }
  if (localReady) localEndpoints = endpoints.filter((ep) => ep.isLocal && ep.ready);
  else if (localServingTerminating) localEndpoints = endpoints.filter((ep) => ep.isLocal && servingTerminating(ep));

  if (!usesClusterEndpoints(sp)) {
    return { clusterEndpoints, localEndpoints, allReachableEndpoints: localEndpoints, hasAnyEndpoints };
  }
  const merged = new Map<string, Endpoint>();
  for (const ep of [...clusterEndpoints, ...localEndpoints]) merged.set(endpointString(ep), ep);
  const allReachableEndpoints = [...merged.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, ep]) => ep);
  return { clusterEndpoints, localEndpoints, allReachableEndpoints, hasAnyEndpoints };
}
