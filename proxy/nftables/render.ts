// One ServicePort -> the map elements (and, for ClientIP affinity only, the chains
// and sets) it contributes to kpr's table. Pure: snapshot data and config in,
// objects out. Endpoint slots are kept stable against the previous rendering so an
// endpoint change touches only the slots that really changed.
import type { RulesConfig } from '../backend.ts';
import { categorizeEndpoints } from '../model/categorize.ts';
import { endpointString, type Endpoint, type NodeInfo, type ServicePort } from '../model/types.ts';
import { cidrContains, parseCIDR, parseIP } from '../../lib/ip.ts';
import { nftComment } from '../naming.ts';
import {
  CHAIN, SET, affinityEndpointChain, affinityServiceChain, affinitySet, dispatchMap, dnatChain, endpointsMap,
  externalChain, familyWords, frontendExpr, internalChain, slotData, type FamilyWords, type KeyKind, type ListKind, type Proto,
} from './layout.ts';
import type { ChainState, Contribution, SlotElements } from './state.ts';
import type { SetSpec } from './transaction.ts';

/** A ServicePort's contribution plus the slot order of its endpoint lists. */
export interface ServiceContribution extends Contribution {
  /** Each list's endpoints by slot, as endpoint map data ("ip . port"). */
  slots: { cluster: readonly string[]; local: readonly string[] };
}

/**
 * Slot order for `next` that keeps every endpoint of `prev` whose slot still exists
 * where it was, and fills the holes with the newcomers in sorted order.
 */
export function assignSlots(prev: readonly string[], next: readonly string[]): string[] {
  if (prev.length === 0) return [...next];
  const wanted = new Set(next);
  const out: (string | undefined)[] = new Array<string | undefined>(next.length).fill(undefined);
  const placed = new Set<string>();
  for (let i = 0; i < Math.min(prev.length, next.length); i++) {
    const ep = prev[i] as string;
    if (wanted.has(ep)) { out[i] = ep; placed.add(ep); }
  }
  const rest = next.filter((ep) => !placed.has(ep));
  let r = 0;
  for (let i = 0; i < out.length; i++) if (out[i] === undefined) out[i] = rest[r++];
  return out as string[];
}

function frontendKey(sp: ServicePort, key: KeyKind, ip: string): string {
  const proto = sp.protocol.toLowerCase();
  return key === 'ip' ? `${ip} . ${proto} . ${sp.port}` : `${proto} . ${sp.nodePort}`;
}

class Builder {
  readonly chains = new Map<string, ChainState>();
  readonly sets: SetSpec[] = [];
  /** Flat `set, key, value` triples (see ElementTriples). */
  readonly elements: string[] = [];
  readonly slotElements: SlotElements[] = [];
  private readonly affinityDone = new Set<ListKind>();

  constructor(
    private readonly w: FamilyWords,
    private readonly sp: ServicePort,
    private readonly lists: Record<ListKind, readonly Endpoint[]>,
    private readonly slots: Record<ListKind, readonly string[]>,
  ) {}

  el(set: string, key: string, value = ''): void {
    this.elements.push(set, key, value);
  }

  /** Sends a frontend to the endpoints of one list. */
  dispatch(key: KeyKind, list: ListKind, frontend: string): void {
    const n = this.slots[list].length;
    if (n === 0) return;
    if (this.sp.affinityTimeoutSeconds > 0) {
      this.affinity(list);
      this.el(dispatchMap(key, list), frontend, `goto ${affinityServiceChain(this.sp, list)}`);
      return;
    }
    const proto = this.sp.protocol.toLowerCase() as Proto;
    const dnat = dnatChain(key, list, proto, n);
    const from = `${frontendExpr(this.w, key)} . numgen random mod ${n}`;
    const map = endpointsMap(key, list, proto);
    this.chains.set(dnat, { spec: { name: dnat }, rules: [`dnat ${this.w.ip} to ${from} map @${map}`] });
    this.el(dispatchMap(key, list), frontend, `goto ${dnat}`);
    this.slotElements.push({ set: map, frontend, endpoints: this.slots[list] });
  }

  /** ClientIP affinity as upstream: one dynamic set and one chain per endpoint. */
  private affinity(list: ListKind): void {
    if (this.affinityDone.has(list)) return;
    this.affinityDone.add(list);
    const { w, sp } = this;
    const eps = this.lists[list];
    const rules: string[] = eps.map((ep) => `${w.ip} saddr @${affinitySet(sp, ep)} goto ${affinityEndpointChain(sp, ep)}`);
    eps.forEach((ep, k) => {
      const cond = k < eps.length - 1 ? `numgen random mod ${eps.length - k} == 0 ` : '';
      rules.push(`${cond}goto ${affinityEndpointChain(sp, ep)}`);
    });
    this.chains.set(affinityServiceChain(sp, list), { spec: { name: affinityServiceChain(sp, list) }, rules });
    for (const ep of eps) {
      const set = affinitySet(sp, ep);
      const chain = affinityEndpointChain(sp, ep);
      if (this.chains.has(chain)) continue;
      this.sets.push({ name: set, kind: 'set', type: w.addrType, flags: ['dynamic', 'timeout'], timeoutSeconds: sp.affinityTimeoutSeconds });
      this.chains.set(chain, {
        spec: { name: chain },
        rules: [`update @${set} { ${w.ip} saddr }`, `meta l4proto ${sp.protocol.toLowerCase()} dnat ${w.ip} to ${endpointString(ep)}`],
      });
    }
  }
}

export function renderServicePort(
  sp: ServicePort,
  endpoints: readonly Endpoint[],
  node: NodeInfo,
  config: RulesConfig,
  previous?: ServiceContribution['slots'],
): ServiceContribution {
  const w = familyWords(config.family);
  const cat = categorizeEndpoints(sp, endpoints, node);
  const lists: Record<ListKind, readonly Endpoint[]> = { cluster: cat.clusterEndpoints, local: cat.localEndpoints };
  const slots: Record<ListKind, string[]> = {
    cluster: assignSlots(previous?.cluster ?? [], cat.clusterEndpoints.map(slotData)),
    local: assignSlots(previous?.local ?? [], cat.localEndpoints.map(slotData)),
  };
  const b = new Builder(w, sp, lists, slots);
  const internal: ListKind = sp.internalPolicyLocal ? 'local' : 'cluster';
  const external: ListKind = sp.externalPolicyLocal ? 'local' : 'cluster';
  // REJECT when nothing serves the Service anywhere; DROP when only this node has nothing.
  // Frontend elements carry the Service's name (`kpr inspect` shows it): an element
  // comment, written between key and verdict (see transaction.ts).
  const comment = `comment ${nftComment(sp.servicePortName)} : `;
  const noEndpoints = comment + (cat.hasAnyEndpoints ? 'drop' : `goto ${CHAIN.reject}`);

  b.el(SET.clusterIPs, sp.clusterIP);
  const clusterFront = frontendKey(sp, 'ip', sp.clusterIP);
  if (lists[internal].length > 0) {
    b.el(SET.serviceIPs, clusterFront, `${comment}goto ${internalChain(internal)}`);
    b.dispatch('ip', internal, clusterFront);
  } else {
    b.el(SET.noEndpointServices, clusterFront, noEndpoints);
  }

  const externalFronts: [KeyKind, string][] = [...sp.externalIPs, ...sp.loadBalancerVIPs].map((ip) => ['ip', frontendKey(sp, 'ip', ip)]);
  if (sp.nodePort) externalFronts.push(['nodeport', frontendKey(sp, 'nodeport', '')]);
  for (const [key, front] of externalFronts) {
    if (lists[external].length === 0) b.el(key === 'ip' ? SET.noEndpointServices : SET.noEndpointNodePorts, front, noEndpoints);
    // With a Local policy and no endpoint on this node, the external chain still sends
    // pods (short-circuit) and the node itself to the cluster's endpoints; the rest
    // falls through to the drop above.
    if (lists.cluster.length === 0 && lists[external].length === 0) continue;
    b.el(key === 'ip' ? SET.serviceIPs : SET.serviceNodePorts, front, `${comment}goto ${externalChain(key, external)}`);
    if (lists.cluster.length > 0) b.dispatch(key, 'cluster', front);
    if (external === 'local' && lists.local.length > 0) b.dispatch(key, 'local', front);
  }

  if (sp.loadBalancerSourceRanges.length > 0) {
    const node = parseIP(config.nodeIP);
    const nodeAllowed = node !== undefined && sp.loadBalancerSourceRanges.some((r) => {
      const c = parseCIDR(r);
      return c !== undefined && cidrContains(c, node);
    });
    for (const lb of sp.loadBalancerVIPs) {
      const front = frontendKey(sp, 'ip', lb);
      b.el(SET.firewallIPs, front);
      for (const r of sp.loadBalancerSourceRanges) b.el(SET.firewallAllow, `${front} . ${r}`);
      // The node itself reaches the LB IP with the LB IP as source (upstream allows it when the node is allowed).
      if (nodeAllowed) for (const src of sp.loadBalancerVIPs) b.el(SET.firewallAllow, `${front} . ${src}`);
    }
  }

  const hairpin = cat.allReachableEndpoints.map((ep) => ep.ip);
  return { chains: [...b.chains.values()], sets: b.sets, elements: b.elements, slotElements: b.slotElements, hairpin, slots };
}
