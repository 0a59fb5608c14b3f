// The whole nftables ruleset of a snapshot, as `nft -f` input: what a full sync on an
// empty kernel writes (kpr render).
import type { RulesConfig } from '../backend.ts';
import type { ProxySnapshot } from '../model/types.ts';
import { Planner } from './planner.ts';

export function renderRuleset(snapshot: ProxySnapshot, config: RulesConfig): string {
  const planner = new Planner();
  planner.update(snapshot, config, undefined);
  return planner.full(undefined).render();
}
