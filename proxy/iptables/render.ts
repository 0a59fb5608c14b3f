// Pure rendering of the iptables mode: a ServicePort and its endpoints become the
// rules upstream kube-proxy would write (same chains, same order, same comments).
// Rules are complete "-A CHAIN ..." lines; restore-plan.ts decides which of them a
// sync must send to the kernel.
import { categorizeEndpoints } from '../model/categorize.ts';
import { externallyAccessible, endpointString, usesClusterEndpoints, usesLocalEndpoints, type Endpoint, type NodeInfo, type ServicePort } from '../model/types.ts';
import { cidrContains, parseCIDR, parseIP } from '../../lib/ip.ts';
import type { LocalDetector, RulesConfig } from '../backend.ts';
import { iptablesComment } from '../naming.ts';
import {
  KUBE_EXTERNAL_SERVICES, KUBE_FIREWALL, KUBE_FORWARD, KUBE_MARK_MASQ, KUBE_NODEPORTS, KUBE_POSTROUTING,
  KUBE_PROXY_FIREWALL, KUBE_SERVICES, endpointChain, serviceChains,
} from './chains.ts';
import { CT_STATE_INVALID_DROPPED, LOCALHOST_NODEPORTS_ACCEPTED, type IptablesFeatures, type NfacctCounter } from './features.ts';

/** What one ServicePort contributes to the ruleset. */
export interface ServiceRules {
  /** The ServicePort's own nat chains (KUBE-SVC/SVL/EXT/FW/SEP), each with its rules. */
  natChains: Map<string, string[]>;
  /** Its rules in shared nat chains (KUBE-SERVICES, KUBE-NODEPORTS). */
  natShared: string[];
  /** Its rules in shared filter chains (REJECT/DROP, firewall, health-check accepts). */
  filterShared: string[];
}

/** The rules that do not depend on any Service. */
export interface BaseRules {
  filterChains: string[];
  natChains: string[];
  filterRules: string[];
  natRules: string[];
  /** Must stay the last rules of nat KUBE-SERVICES: the NodePort catch-all. */
  natServicesTail: string[];
  /**
   * Jumps from the built-in chains into ours, as [table, built-in chain, rule spec], in
   * the order they must have in each built-in chain (first evaluated first).
   */
  jumps: [table: 'filter' | 'nat', chain: string, spec: string][];
}

export interface RenderContext {
  config: RulesConfig;
  node: NodeInfo;
  /** Upstream's large-cluster mode (> 1000 endpoints): no per-endpoint comments. */
  largeCluster: boolean;
  features: IptablesFeatures;
}

/** NodePorts answer on 127.0.0.1 (IPv4 only): localhostNodePorts, and loopback among the NodePort addresses. */
function localhostNodePorts(config: RulesConfig): boolean {
  if (config.family !== 4 || !config.localhostNodePorts) return false;
  return config.nodePortIPs === undefined || config.nodePortIPs.some((ip) => ip.startsWith('127.'));
}

/** Counts the packets a rule matches into an nfacct object, where the node has it. */
const nfacct = (features: IptablesFeatures, name: NfacctCounter) => (features.nfacct.has(name) ? ` -m nfacct --nfacct-name ${name}` : '');

const comment = (s: string) => `-m comment --comment ${iptablesComment(s)}`;

function detectorArgs(d: LocalDetector, family: 4 | 6, negate: boolean): string | undefined {
  const not = negate ? '! ' : '';
  switch (d.mode) {
    case 'ClusterCIDR':
    case 'NodeCIDR': {
      const cidr = d.cidrs.find((c) => parseCIDR(c)?.family === family);
      return cidr ? `${not}-s ${cidr}` : undefined;
    }
    case 'BridgeInterface':
      return `${not}-i ${d.interfaceName}`;
    case 'InterfaceNamePrefix':
      return `${not}-i ${d.prefix}+`;
    case 'None':
      return undefined;
  }
}

/** Upstream's probability for the i-th of n remaining endpoints, "%0.10f". */
export function probability(n: number): string {
  return (1 / n).toFixed(10);
}

function writeEndpointDispatch(out: string[], chain: string, sp: ServicePort, eps: readonly Endpoint[], ctx: RenderContext): void {
  const spn = sp.servicePortName;
  const cmt = (ep: Endpoint) => (ctx.largeCluster ? '' : `${comment(`${spn} -> ${endpointString(ep)}`)} `);
  if (sp.affinityTimeoutSeconds > 0) {
    for (const ep of eps) {
      const sep = endpointChain(sp, ep);
      out.push(`-A ${chain} ${cmt(ep)}-m recent --name ${sep} --rcheck --seconds ${sp.affinityTimeoutSeconds} --reap -j ${sep}`);
    }
  }
  eps.forEach((ep, i) => {
    const stat = i < eps.length - 1 ? `-m statistic --mode random --probability ${probability(eps.length - i)} ` : '';
    out.push(`-A ${chain} ${cmt(ep)}${stat}-j ${endpointChain(sp, ep)}`);
  });
}

export function renderServicePort(sp: ServicePort, endpoints: readonly Endpoint[], ctx: RenderContext): ServiceRules {
  const { config } = ctx;
  const family = config.family;
  const proto = sp.protocol.toLowerCase();
  const spn = sp.servicePortName;
  const chains = serviceChains(sp);
  const { clusterEndpoints, localEndpoints, allReachableEndpoints, hasAnyEndpoints } = categorizeEndpoints(sp, endpoints, ctx.node);

  const usesClusterChain = clusterEndpoints.length > 0 && usesClusterEndpoints(sp);
  const usesLocalChain = localEndpoints.length > 0 && usesLocalEndpoints(sp);
  const internalChain = sp.internalPolicyLocal ? chains.local : chains.cluster;
  const hasInternal = hasAnyEndpoints && (!sp.internalPolicyLocal || localEndpoints.length > 0);
  const externalPolicyChain = sp.externalPolicyLocal ? chains.local : chains.cluster;
  const hasExternal = hasAnyEndpoints && (!sp.externalPolicyLocal || localEndpoints.length > 0);
  const usesFW = hasAnyEndpoints && sp.loadBalancerVIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
  const lbChain = usesFW ? chains.firewall : chains.external;

  const noEp = hasAnyEndpoints ? undefined : { target: 'REJECT', why: `${spn} has no endpoints` };
  const internalFilter = noEp ?? (hasInternal ? undefined : { target: 'DROP', why: `${spn} has no local endpoints` });
  const externalFilter = noEp ?? (hasExternal ? undefined : { target: 'DROP', why: `${spn} has no local endpoints` });

  const natShared: string[] = [];
  const filterShared: string[] = [];
  const match = `-m ${proto} -p ${proto}`;
  const dst = (ip: string) => `${match} -d ${ip} --dport ${sp.port}`;

  if (hasInternal) natShared.push(`-A ${KUBE_SERVICES} ${comment(`${spn} cluster IP`)} ${dst(sp.clusterIP)} -j ${internalChain}`);
  else if (internalFilter) filterShared.push(`-A ${KUBE_SERVICES} ${comment(internalFilter.why)} ${dst(sp.clusterIP)} -j ${internalFilter.target}`);

  for (const ip of sp.externalIPs) {
    if (hasAnyEndpoints) natShared.push(`-A ${KUBE_SERVICES} ${comment(`${spn} external IP`)} ${dst(ip)} -j ${chains.external}`);
    if (externalFilter) filterShared.push(`-A ${KUBE_EXTERNAL_SERVICES} ${comment(externalFilter.why)} ${dst(ip)} -j ${externalFilter.target}`);
  }
  for (const ip of sp.loadBalancerVIPs) {
    if (hasAnyEndpoints) natShared.push(`-A ${KUBE_SERVICES} ${comment(`${spn} loadbalancer IP`)} ${dst(ip)} -j ${lbChain}`);
    if (usesFW) {
      filterShared.push(`-A ${KUBE_PROXY_FIREWALL} ${comment(`${spn} traffic not accepted by ${chains.firewall}`)} ${dst(ip)} -j DROP`);
    }
  }
  if (externalFilter) {
    for (const ip of sp.loadBalancerVIPs) {
      filterShared.push(`-A ${KUBE_EXTERNAL_SERVICES} ${comment(externalFilter.why)} ${dst(ip)} -j ${externalFilter.target}`);
    }
  }
  if (sp.nodePort !== 0) {
    // Upstream counts the NodePort connections made on 127.0.0.1 (a metric), with a rule of their own.
    if (hasAnyEndpoints && localhostNodePorts(config) && ctx.features.nfacct.has(LOCALHOST_NODEPORTS_ACCEPTED)) {
      natShared.push(
        `-A ${KUBE_NODEPORTS} ${comment(spn)} ${match} -d 127.0.0.0/8 --dport ${sp.nodePort}${nfacct(ctx.features, LOCALHOST_NODEPORTS_ACCEPTED)} -j ${chains.external}`,
      );
    }
    if (hasAnyEndpoints) natShared.push(`-A ${KUBE_NODEPORTS} ${comment(spn)} ${match} --dport ${sp.nodePort} -j ${chains.external}`);
    if (externalFilter) {
      filterShared.push(
        `-A ${KUBE_EXTERNAL_SERVICES} ${comment(externalFilter.why)} -m addrtype --dst-type LOCAL ${match} --dport ${sp.nodePort} -j ${externalFilter.target}`,
      );
    }
  }
  if (sp.healthCheckNodePort !== 0) {
    filterShared.push(`-A ${KUBE_NODEPORTS} ${comment(`${spn} health check node port`)} -m tcp -p tcp --dport ${sp.healthCheckNodePort} -j ACCEPT`);
  }

  const natChains = new Map<string, string[]>();
  const ifLocal = detectorArgs(config.localDetector, family, false);
  const ifNotLocal = detectorArgs(config.localDetector, family, true);

  // Off-cluster sources reaching the ClusterIP (through a route to any node) must come
  // back through this node: masquerade them (or everything, with masqueradeAll).
  const internalMasq = hasInternal ? (config.masqueradeAll ? '' : ifNotLocal) : undefined;
  const policyChain = (chain: string, eps: readonly Endpoint[]) => {
    const rules: string[] = [];
    if (chain === internalChain && internalMasq !== undefined) {
      rules.push(`-A ${chain} ${comment(`${spn} cluster IP`)} ${dst(sp.clusterIP)} ${internalMasq ? `${internalMasq} ` : ''}-j ${KUBE_MARK_MASQ}`);
    }
    writeEndpointDispatch(rules, chain, sp, eps, ctx);
    natChains.set(chain, rules);
  };
  if (usesClusterChain) policyChain(chains.cluster, clusterEndpoints);
  if (usesLocalChain) policyChain(chains.local, localEndpoints);
  if (hasAnyEndpoints && externallyAccessible(sp)) {
    const ext = chains.external;
    const rules: string[] = [];
    if (!sp.externalPolicyLocal) {
      rules.push(`-A ${ext} ${comment(`masquerade traffic for ${spn} external destinations`)} -j ${KUBE_MARK_MASQ}`);
    } else {
      // Pods reaching an external address of the Service are treated as if they went
      // out to a load balancer and came back: any endpoint, no policy.
      if (ifLocal) rules.push(`-A ${ext} ${comment(`pod traffic for ${spn} external destinations`)} ${ifLocal} -j ${chains.cluster}`);
      rules.push(`-A ${ext} ${comment(`masquerade LOCAL traffic for ${spn} external destinations`)} -m addrtype --src-type LOCAL -j ${KUBE_MARK_MASQ}`);
      rules.push(`-A ${ext} ${comment(`route LOCAL traffic for ${spn} external destinations`)} -m addrtype --src-type LOCAL -j ${chains.cluster}`);
    }
    if (hasExternal) rules.push(`-A ${ext} -j ${externalPolicyChain}`);
    natChains.set(ext, rules);
  }
  if (usesFW) {
    const fw = chains.firewall;
    const rules: string[] = [];
    const head = `-A ${fw} ${comment(`${spn} loadbalancer IP`)}`;
    const nodeIP = parseIP(config.nodeIP);
    let allowFromNode = false;
    for (const cidr of sp.loadBalancerSourceRanges) {
      rules.push(`${head} -s ${cidr} -j ${chains.external}`);
      const c = parseCIDR(cidr);
      if (c && nodeIP && cidrContains(c, nodeIP)) allowFromNode = true;
    }
    // A node reaching a VIP it holds locally loops back with the VIP as source.
    if (allowFromNode) for (const ip of sp.loadBalancerVIPs) rules.push(`${head} -s ${ip} -j ${chains.external}`);
    rules.push(`-A ${fw} ${comment(`other traffic to ${spn} will be dropped by KUBE-PROXY-FIREWALL`)}`);
    natChains.set(fw, rules);
  }
  for (const ep of allReachableEndpoints) {
    const sep = endpointChain(sp, ep);
    const head = ctx.largeCluster ? `-A ${sep}` : `-A ${sep} ${comment(spn)}`;
    const affinity = sp.affinityTimeoutSeconds > 0 ? ` -m recent --name ${sep} --set` : '';
    natChains.set(sep, [
      // Hairpin: a pod reaching itself through the Service must see a reply from the Service.
      `${head} -s ${ep.ip} -j ${KUBE_MARK_MASQ}`,
      `${head}${affinity} ${match} -j DNAT --to-destination ${endpointString(ep)}`,
    ]);
  }
  return { natChains, natShared, filterShared };
}

export function renderBase(config: RulesConfig, features: IptablesFeatures): BaseRules {
  const mark = config.masqueradeMark;
  const v4 = config.family === 4;
  const localhostNodePorts = v4 && config.localhostNodePorts;
  const filterChains = [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL];
  const filterRules: string[] = [];
  if (localhostNodePorts) {
    // route_localnet makes 127.0.0.1 NodePorts possible and opens a hole
    // (kubernetes issue 90259) that this rule, also written by kubelet, closes.
    filterChains.push(KUBE_FIREWALL);
    filterRules.push(
      `-A ${KUBE_FIREWALL} ${comment('block incoming localnet connections')} -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
    );
  }
  if (!config.conntrackTCPLiberal) {
    filterRules.push(`-A ${KUBE_FORWARD} -m conntrack --ctstate INVALID${nfacct(features, CT_STATE_INVALID_DROPPED)} -j DROP`);
  }
  filterRules.push(
    `-A ${KUBE_FORWARD} ${comment('kubernetes forwarding rules')} -m mark --mark ${mark}/${mark} -j ACCEPT`,
    `-A ${KUBE_FORWARD} ${comment('kubernetes forwarding conntrack rule')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  );
  const natRules = [
    `-A ${KUBE_POSTROUTING} -m mark ! --mark ${mark}/${mark} -j RETURN`,
    // Clear the mark so a packet that traverses the stack again is not masqueraded twice.
    `-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${mark}`,
    `-A ${KUBE_POSTROUTING} ${comment('kubernetes service traffic requiring SNAT')} -j MASQUERADE${features.randomFully ? ' --random-fully' : ''}`,
    `-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${mark}`,
  ];
  const tailComment = comment('kubernetes service nodeports; NOTE: this must be the last rule in this chain');
  const natServicesTail: string[] = [];
  if (config.nodePortIPs === undefined) {
    const exclude = v4 ? (localhostNodePorts ? '' : ' ! -d 127.0.0.0/8') : ' ! -d ::1/128';
    natServicesTail.push(`-A ${KUBE_SERVICES} ${tailComment} -m addrtype --dst-type LOCAL${exclude} -j ${KUBE_NODEPORTS}`);
  } else {
    for (const ip of config.nodePortIPs) {
      const loopback = v4 ? ip.startsWith('127.') : ip === '::1';
      if (loopback && !localhostNodePorts) continue;
      natServicesTail.push(`-A ${KUBE_SERVICES} ${tailComment} -d ${ip} -j ${KUBE_NODEPORTS}`);
    }
  }
  const isNew = '-m conntrack --ctstate NEW';
  const firewall = `${isNew} ${comment('kubernetes load balancer firewall')} -j ${KUBE_PROXY_FIREWALL}`;
  const portals = `${isNew} ${comment('kubernetes service portals')} -j ${KUBE_SERVICES}`;
  const external = `${isNew} ${comment('kubernetes externally-visible service portals')} -j ${KUBE_EXTERNAL_SERVICES}`;
  const kubelet = localhostNodePorts ? [`-j ${KUBE_FIREWALL}`] : [];
  // The order upstream's proxier leaves in the kernel (it prepends its list one by one):
  // the firewall drops before the health-check accepts of KUBE-NODEPORTS, so a load-balancer
  // IP that is a node address keeps its source ranges on a health-check node port.
  const filterJumps = (chain: string, specs: string[]) => specs.map((spec): BaseRules['jumps'][number] => ['filter', chain, spec]);
  const jumps: BaseRules['jumps'] = [
    ...filterJumps('INPUT', [...kubelet, firewall, `${comment('kubernetes health check service ports')} -j ${KUBE_NODEPORTS}`, external]),
    ...filterJumps('FORWARD', [firewall, `${comment('kubernetes forwarding rules')} -j ${KUBE_FORWARD}`, portals, external]),
    ...filterJumps('OUTPUT', [...kubelet, firewall, portals]),
    ['nat', 'OUTPUT', `${comment('kubernetes service portals')} -j ${KUBE_SERVICES}`],
    ['nat', 'PREROUTING', `${comment('kubernetes service portals')} -j ${KUBE_SERVICES}`],
    ['nat', 'POSTROUTING', `${comment('kubernetes postrouting rules')} -j ${KUBE_POSTROUTING}`],
  ];
  return {
    filterChains,
    natChains: [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ],
    filterRules,
    natRules,
    natServicesTail,
    jumps,
  };
}
