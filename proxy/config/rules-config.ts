// ProxyConfig + this node -> the RulesConfig of one family (pure), shared by the
// daemon and `kpr render`.
import { ipFamily, normalizeIP, type IPFamily } from '../../lib/ip.ts';
import type { LocalDetector, RulesConfig } from '../backend.ts';
import type { ProxyConfig } from './config.ts';
import { nodePortIPs, nodePrimaryIP } from '../node/addresses.ts';
import type { Node } from '../watch/objects.ts';

export function localDetector(cfg: ProxyConfig): LocalDetector {
  switch (cfg.detectLocalMode) {
    case 'BridgeInterface':
      return { mode: 'BridgeInterface', interfaceName: cfg.detectLocal.bridgeInterface };
    case 'InterfaceNamePrefix':
      return { mode: 'InterfaceNamePrefix', prefix: cfg.detectLocal.interfaceNamePrefix };
    default:
      // Without a cluster CIDR there is nothing to detect with (upstream's no-op detector).
      return cfg.clusterCIDRs.length ? { mode: cfg.detectLocalMode, cidrs: cfg.clusterCIDRs } : { mode: 'None' };
  }
}

/** The node's primary address of the family: --bind-address when it is specific, else the Node's. */
function primaryIP(cfg: ProxyConfig, family: IPFamily, node: Node | undefined): string {
  const bind = /^(0\.0\.0\.0|::)$/.test(cfg.bindAddress) ? undefined : normalizeIP(cfg.bindAddress);
  if (bind && bind.includes(':') === (family === 6)) return bind;
  return nodePrimaryIP(node, family);
}

/** The CIDRs of one family, sorted and without duplicates (so that equal sets give equal configs). */
export function cidrsOfFamily(cidrs: Iterable<string>, family: IPFamily): string[] {
  return [...new Set(cidrs)].filter((c) => ipFamily(c.split('/')[0] ?? '') === family).sort();
}

/** `serviceCIDRs`: the union of every ServiceCIDR object's CIDRs, any family. */
export function rulesConfigFor(
  cfg: ProxyConfig,
  family: IPFamily,
  node: Node | undefined,
  localAddresses: readonly string[],
  serviceCIDRs: Iterable<string> = [],
): RulesConfig {
  const primary = primaryIP(cfg, family, node);
  return {
    family,
    masqueradeAll: cfg.masqueradeAll,
    masqueradeMark: `0x${(1 << cfg.masqueradeBit).toString(16)}`,
    localDetector: localDetector(cfg),
    nodePortIPs: nodePortIPs(cfg.nodePortAddresses, family, localAddresses, primary),
    nodeIP: primary,
    localhostNodePorts: cfg.localhostNodePorts,
    conntrackTCPLiberal: cfg.conntrack.tcpBeLiberal,
    serviceCIDRs: cidrsOfFamily(serviceCIDRs, family),
  };
}

/**
 * Where the health-check node ports listen: the node addresses nodePortAddresses
 * selects in any family (as upstream); undefined when they take every address.
 */
export function healthCheckAddresses(cfg: ProxyConfig, node: Node | undefined, localAddresses: readonly string[]): string[] | undefined {
  const lists = ([4, 6] as const).map((f) => nodePortIPs(cfg.nodePortAddresses, f, localAddresses, primaryIP(cfg, f, node)));
  if (lists.some((l) => l === undefined)) return undefined;
  return lists.flatMap((l) => l ?? []);
}
