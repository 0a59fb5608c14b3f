// The fixed part of kpr's table: base chains, policy chains, sets and maps. Pure:
// the same config gives the same objects. Per-ServicePort content is render.ts.
import type { LocalDetector, RulesConfig } from '../backend.ts';
import { ipFamily } from '../../lib/ip.ts';
import {
  CHAIN, PROTOCOLS, SET, dispatchMap, endpointsMap, endpointsMapSpec, externalChain, familyWords, frontendExpr,
  internalChain, verdictMapSpec, type FamilyWords, type KeyKind, type ListKind,
} from './layout.ts';
import type { ChainState, Contribution } from './state.ts';
import type { BaseChainHook, SetSpec } from './transaction.ts';

const chain = (name: string, rules: string[], base?: BaseChainHook): ChainState => ({ spec: base ? { name, base } : { name }, rules });

function anySet(items: readonly string[]): string {
  return items.length === 1 ? (items[0] as string) : `{ ${items.join(' , ')} }`;
}

/** Traffic from this node's pods (upstream's IfLocal) as field and value, or undefined when not detectable. */
function podMatch(w: FamilyWords, d: LocalDetector, family: 4 | 6): { field: string; value: string } | undefined {
  switch (d.mode) {
    case 'ClusterCIDR':
    case 'NodeCIDR': {
      const cidrs = d.cidrs.filter((c) => ipFamily(c.split('/')[0] ?? '') === family);
      return cidrs.length ? { field: `${w.ip} saddr`, value: anySet(cidrs) } : undefined;
    }
    case 'BridgeInterface':
      return { field: 'iifname', value: `"${d.interfaceName}"` };
    case 'InterfaceNamePrefix':
      return { field: 'iifname', value: `"${d.prefix}*"` };
    case 'None':
      return undefined;
  }
}

/** The rule that marks internal (ClusterIP) traffic for masquerade, if any. */
function internalMasquerade(w: FamilyWords, config: RulesConfig): string[] {
  if (config.masqueradeAll) return [`jump ${CHAIN.markForMasquerade}`];
  const pods = podMatch(w, config.localDetector, config.family);
  return pods ? [`${pods.field} != ${pods.value} jump ${CHAIN.markForMasquerade}`] : [];
}

function nodePortMatch(w: FamilyWords, config: RulesConfig): string {
  return config.nodePortIPs === undefined ? `fib daddr type local ${w.ip} daddr != ${w.loopback}` : `${w.ip} daddr @${SET.nodePortIPs}`;
}

function policyChains(w: FamilyWords, config: RulesConfig): ChainState[] {
  const out: ChainState[] = [];
  const pods = podMatch(w, config.localDetector, config.family);
  const lists: ListKind[] = ['cluster', 'local'];
  for (const list of lists) {
    out.push(chain(internalChain(list), [...internalMasquerade(w, config), `${frontendExpr(w, 'ip')} vmap @${dispatchMap('ip', list)}`]));
  }
  const keys: KeyKind[] = ['ip', 'nodeport'];
  for (const key of keys) {
    const toCluster = `${frontendExpr(w, key)} vmap @${dispatchMap(key, 'cluster')}`;
    out.push(chain(externalChain(key, 'cluster'), [`jump ${CHAIN.markForMasquerade}`, toCluster]));
    // externalTrafficPolicy Local: pods short-circuit to all endpoints unmasqueraded;
    // the node itself reaches all endpoints masqueraded; the rest only local ones.
    out.push(chain(externalChain(key, 'local'), [
      ...(pods ? [`${pods.field} ${pods.value} ${toCluster}`] : []),
      `fib saddr type local jump ${CHAIN.markForMasquerade}`,
      `fib saddr type local ${toCluster}`,
      `${frontendExpr(w, key)} vmap @${dispatchMap(key, 'local')}`,
    ]));
  }
  return out;
}

function sets(w: FamilyWords): SetSpec[] {
  const addr = w.addrType;
  const out: SetSpec[] = [
    { name: SET.clusterIPs, kind: 'set', type: addr },
    { name: SET.nodePortIPs, kind: 'set', type: addr },
    { name: SET.serviceCIDRs, kind: 'set', type: addr, flags: ['interval'] },
    verdictMapSpec(w, SET.serviceIPs, 'ip'),
    verdictMapSpec(w, SET.serviceNodePorts, 'nodeport'),
    verdictMapSpec(w, SET.noEndpointServices, 'ip'),
    verdictMapSpec(w, SET.noEndpointNodePorts, 'nodeport'),
    { name: SET.firewallIPs, kind: 'set', type: `${addr} . inet_proto . inet_service` },
    { name: SET.firewallAllow, kind: 'set', type: `${addr} . inet_proto . inet_service . ${addr}`, flags: ['interval'] },
    { name: SET.hairpin, kind: 'set', type: `${addr} . ${addr}` },
  ];
  for (const key of ['ip', 'nodeport'] as const) {
    for (const list of ['cluster', 'local'] as const) {
      out.push(verdictMapSpec(w, dispatchMap(key, list), key));
      for (const proto of PROTOCOLS) out.push(endpointsMapSpec(w, endpointsMap(key, list, proto), key, proto));
    }
  }
  return out;
}

export function renderBase(config: RulesConfig): Contribution {
  const w = familyWords(config.family);
  const front = frontendExpr(w, 'ip');
  const newJump = (c: string) => `ct state new jump ${c}`;
  const mark = config.masqueradeMark;
  const np = nodePortMatch(w, config);
  const chains: ChainState[] = [
    chain('filter-prerouting-pre-dnat', [newJump(CHAIN.firewallCheck)], { type: 'filter', hook: 'prerouting', priority: -110 }),
    chain('filter-output-pre-dnat', [newJump(CHAIN.firewallCheck)], { type: 'filter', hook: 'output', priority: -110 }),
    chain('filter-forward', [newJump(CHAIN.serviceEndpointsCheck), newJump(CHAIN.clusterIPsCheck)], { type: 'filter', hook: 'forward', priority: 0 }),
    chain('filter-input', [newJump(CHAIN.nodePortEndpointsCheck), newJump(CHAIN.serviceEndpointsCheck)], { type: 'filter', hook: 'input', priority: 0 }),
    chain('filter-output', [newJump(CHAIN.serviceEndpointsCheck), newJump(CHAIN.clusterIPsCheck)], { type: 'filter', hook: 'output', priority: 0 }),
    chain('nat-prerouting', [`jump ${CHAIN.services}`], { type: 'nat', hook: 'prerouting', priority: -100 }),
    chain('nat-output', [`jump ${CHAIN.services}`], { type: 'nat', hook: 'output', priority: -100 }),
    chain('nat-postrouting', [`jump ${CHAIN.masquerading}`], { type: 'nat', hook: 'postrouting', priority: 100 }),
    chain(CHAIN.firewallCheck, [`${front} @${SET.firewallIPs} ${front} . ${w.ip} saddr != @${SET.firewallAllow} drop`]),
    chain(CHAIN.serviceEndpointsCheck, [`${front} vmap @${SET.noEndpointServices}`]),
    chain(CHAIN.nodePortEndpointsCheck, [`${np} meta l4proto . th dport vmap @${SET.noEndpointNodePorts}`]),
    chain(CHAIN.clusterIPsCheck, [`${w.ip} daddr @${SET.clusterIPs} reject`, `${w.ip} daddr @${SET.serviceCIDRs} drop`]),
    chain(CHAIN.reject, ['reject']),
    chain(CHAIN.markForMasquerade, [`mark set mark or ${mark}`]),
    chain(CHAIN.masquerading, [
      // Hairpin: a pod reached itself through a Service (after DNAT, source = destination).
      `ct status dnat ${w.ip} saddr . ${w.ip} daddr @${SET.hairpin} masquerade fully-random`,
      `mark and ${mark} == 0 return`,
      `mark set mark xor ${mark}`,
      'masquerade fully-random',
    ]),
    chain(CHAIN.services, [`${front} vmap @${SET.serviceIPs}`, `${np} meta l4proto . th dport vmap @${SET.serviceNodePorts}`]),
    ...policyChains(w, config),
  ];
  const elements: string[] = [];
  for (const ip of config.nodePortIPs ?? []) {
    if (ip.startsWith('127.') || ip === '::1') continue; // never NodePorts on loopback in nftables mode
    elements.push(SET.nodePortIPs, ip, '');
  }
  // Service CIDRs: traffic to their unallocated addresses is dropped (cluster-ips-check).
  for (const cidr of config.serviceCIDRs ?? []) elements.push(SET.serviceCIDRs, cidr, '');
  return { chains, sets: sets(w), elements, slotElements: [], hairpin: [] };
}
