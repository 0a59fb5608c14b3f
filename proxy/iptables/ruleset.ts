// The whole iptables ruleset of a snapshot, as one iptables-restore input: what a
// full sync on an empty kernel writes (kpr render, golden tests).
import type { RulesConfig } from '../backend.ts';
import type { ProxySnapshot } from '../model/types.ts';
import { renderBase, renderServicePort, type RenderContext, type ServiceRules } from './render.ts';
import { planFull } from './restore-plan.ts';
import { CURRENT_NODE, type IptablesFeatures } from './features.ts';

/** Upstream's threshold for dropping per-endpoint comments. */
const LARGE_CLUSTER_ENDPOINTS = 1000;

export function renderContext(snapshot: ProxySnapshot, config: RulesConfig, features: IptablesFeatures): RenderContext {
  let endpoints = 0;
  for (const eps of snapshot.endpoints.values()) endpoints += eps.length;
  return { config, node: snapshot.node, largeCluster: endpoints > LARGE_CLUSTER_ENDPOINTS, features };
}

/** Every ServicePort's rules, in key order, rendered as they are read. */
export function* renderAllServices(snapshot: ProxySnapshot, ctx: RenderContext): Generator<[string, ServiceRules]> {
  for (const key of [...snapshot.services.keys()].sort()) {
    const sp = snapshot.services.get(key);
    if (sp) yield [key, renderServicePort(sp, snapshot.endpoints.get(key) ?? [], ctx)];
  }
}

function* rulesOf(services: Iterable<[string, ServiceRules]>): Generator<ServiceRules> {
  for (const [, r] of services) yield r;
}

/** The restores a full sync on an empty kernel applies, in order, as one text (by default, of a current node). */
export function renderRuleset(snapshot: ProxySnapshot, config: RulesConfig, features: IptablesFeatures = CURRENT_NODE): string {
  const ctx = renderContext(snapshot, config, features);
  return [...planFull(renderBase(config, features), rulesOf(renderAllServices(snapshot, ctx)), { natChains: new Set(), jumps: { filter: [], nat: [] } })].join('');
}
