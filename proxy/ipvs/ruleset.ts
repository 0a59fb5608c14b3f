// The whole IPVS-mode state of a snapshot as text, without a kernel (kpr render,
// reviews): the ipset restore, the ipvsadm -R table, the kube-ipvs0 addresses and the
// iptables-restore input that a first sync on an empty node would write.
import type { RulesConfig } from '../backend.ts';
import type { ProxySnapshot } from '../model/types.ts';
import { planIpsets } from './ipset.ts';
import { formatRestore } from './ipvsadm.ts';
import type { IpvsScheduler } from './proxier.ts';
import { renderIpvs } from './render.ts';
import { renderIptables, restoreText } from './rules.ts';

/**
 * NodePort virtual servers go to config.nodePortIPs, or to the node IP when every local
 * address would be used (a live sync lists the node's addresses instead).
 */
export function renderRuleset(snapshot: ProxySnapshot, config: RulesConfig, scheduler: IpvsScheduler = 'rr'): string {
  const nodeAddresses = config.nodePortIPs ?? (config.nodeIP ? [config.nodeIP] : []);
  const desired = renderIpvs({ snapshot, scheduler, nodeIP: config.nodeIP, nodePortAddresses: nodeAddresses, otherLocalAddresses: new Set(nodeAddresses) });
  const table = formatRestore(desired.virtualServers.flatMap((vs) => [{ op: 'add-service' as const, vs }, ...vs.realServers.map((rs) => ({ op: 'add-server' as const, vs, rs }))]));
  const bits = config.family === 4 ? 32 : 128;
  return [
    '# ipset restore -exist',
    planIpsets(config.family, new Map(), desired.ipsets).text,
    '# ipvsadm -R',
    table,
    '# ip -batch - (kube-ipvs0)',
    desired.boundAddresses.map((a) => `address add ${a}/${bits} dev kube-ipvs0\n`).join(''),
    `# ${config.family === 4 ? 'iptables' : 'ip6tables'}-restore --noflush`,
    restoreText(renderIptables(config, { lbNoNodeAccess: desired.lbNoNodeAccess }), { filter: new Set(), nat: new Set() }),
  ].join('\n');
}
