// Chain names of the iptables mode, spelled as upstream so dumps compare with kube-proxy's.
import { hashPrefix } from '../naming.ts';
import { endpointString, type Endpoint, type ServicePort } from '../model/types.ts';

export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
export const KUBE_FORWARD = 'KUBE-FORWARD';
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
/** kubelet's chain; kube-proxy adds a rule to it for localhost NodePorts but never deletes it. */
export const KUBE_FIREWALL = 'KUBE-FIREWALL';

/** Prefixes of the per-service chains kpr creates and may therefore delete. */
export const SERVICE_CHAIN_PREFIXES = ['KUBE-SVC-', 'KUBE-SVL-', 'KUBE-EXT-', 'KUBE-FW-', 'KUBE-SEP-'] as const;

function serviceHash(sp: ServicePort): string {
  return hashPrefix(sp.servicePortName + sp.protocol.toLowerCase(), 16);
}

export interface ServiceChains {
  cluster: string;
  local: string;
  external: string;
  firewall: string;
}

export function serviceChains(sp: ServicePort): ServiceChains {
  const h = serviceHash(sp);
  return { cluster: `KUBE-SVC-${h}`, local: `KUBE-SVL-${h}`, external: `KUBE-EXT-${h}`, firewall: `KUBE-FW-${h}` };
}

export function endpointChain(sp: ServicePort, ep: Endpoint): string {
  return `KUBE-SEP-${hashPrefix(sp.servicePortName + sp.protocol.toLowerCase() + endpointString(ep), 16)}`;
}

export function isServiceChain(name: string): boolean {
  return SERVICE_CHAIN_PREFIXES.some((p) => name.startsWith(p));
}
