// Routed mode (as Calico does it): no bridge. The pod holds a /32 and a /128, its
// default routes point at link-local gateways that the host veth answers by proxy
// ARP / proxy NDP, and the node routes each pod address to its host veth.
import { addressOf, containerOps, dadSysctls, familyOf, forwardingSysctls, podRoutes, routeOp, vethOps, type AttachInput, type AttachPlan } from './attach.ts';
import type { LinkOp } from './link-ops.ts';
import { ROUTED_GATEWAY4, ROUTED_GATEWAY6 } from './names.ts';
import type { IPFamily } from '../lib/ip.ts';

export function planRouted(i: AttachInput): AttachPlan {
  const hv = i.hostVeth;
  const families = new Set(i.addresses.map((a) => familyOf(a.address)));
  const gateways = new Map<IPFamily, string>();
  if (families.has(4)) gateways.set(4, ROUTED_GATEWAY4);
  if (families.has(6)) gateways.set(6, ROUTED_GATEWAY6);
  const hostAddr = (a: string) => `${addressOf(a)}/${familyOf(a) === 4 ? 32 : 128}`;

  const host: LinkOp[] = [...vethOps(i), { op: 'set-up', dev: hv }];
  for (const a of i.addresses) host.push({ op: 'replace-route', dst: hostAddr(a.address), dev: hv });
  if (families.has(6)) host.push({ op: 'add-proxy-neigh', dst: ROUTED_GATEWAY6, dev: hv });

  const hostSysctls = forwardingSysctls(i.addresses);
  if (families.has(4)) hostSysctls.push([`net/ipv4/conf/${hv}/proxy_arp`, '1'], [`net/ipv4/neigh/${hv}/proxy_delay`, '0']);
  if (families.has(6)) hostSysctls.push([`net/ipv6/conf/${hv}/proxy_ndp`, '1'], [`net/ipv6/neigh/${hv}/proxy_delay`, '0']);

  // Every route leaves through the link-local gateway, whatever IPAM named.
  const routes = podRoutes(i.routes.map(({ gw: _gw, ...r }) => r), gateways);
  return {
    hostOps: host,
    hostSysctls,
    containerOps: containerOps(i.ifName, i.addresses.map((a) => hostAddr(a.address))),
    containerSysctls: dadSysctls(i.ifName, i.addresses),
    interfaces: [
      { name: hv, mac: i.hostMac },
      { name: i.ifName, mac: i.containerMac, mtu: i.mtu, sandbox: i.netns },
    ],
    ips: i.addresses.map((a) => ({ address: hostAddr(a.address), gateway: gateways.get(familyOf(a.address)) ?? '', interface: 1 })),
    routes,
    // The IPv4 gateway is on no subnet of the pod: onlink, rather than a route to
    // 169.254.1.1 that a second attachment's could not coexist with.
    routeOps: routes.map((r) => routeOp(r, i.ifName, r.gw === ROUTED_GATEWAY4)),
  };
}
