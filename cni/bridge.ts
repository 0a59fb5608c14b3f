// Bridge mode: the pod's veth is a port of a node bridge that holds each family's
// gateway address; hairpin lets a pod reach itself through a Service address.
import { addressOf, containerOps, dadSysctls, familyOf, firstHost, forwardingSysctls, podRoutes, routeOp, vethOps, type AttachInput, type AttachPlan } from './attach.ts';
import type { LinkOp } from './link-ops.ts';
import { bridgeMac } from './names.ts';
import type { IPFamily } from '../lib/ip.ts';

export function planBridge(i: AttachInput): AttachPlan {
  const br = i.conf.bridge;
  const gateways = new Map<IPFamily, string>();
  const host: LinkOp[] = [];
  // Two first pods may race to create it; the loser's "File exists" is fine.
  if (!i.bridgeExists) host.push({ op: 'add-bridge', name: br, mtu: i.mtu, mac: bridgeMac(br) });
  for (const a of i.addresses) {
    const family = familyOf(a.address);
    const gw = a.gateway ?? firstHost(a.address);
    gateways.set(family, gw);
    const prefix = a.address.split('/')[1] ?? '';
    host.push({ op: 'replace-addr', dev: br, cidr: `${gw}/${prefix}`, nodad: family === 6 });
  }
  host.push({ op: 'set-up', dev: br }, ...vethOps(i), { op: 'set-master', dev: i.hostVeth, master: br });
  if (i.conf.hairpinMode) host.push({ op: 'set-hairpin', dev: i.hostVeth });
  host.push({ op: 'set-up', dev: i.hostVeth });

  const routes = podRoutes(i.routes, gateways);
  return {
    hostOps: host,
    hostSysctls: forwardingSysctls(i.addresses),
    containerOps: containerOps(i.ifName, i.addresses.map((a) => a.address)),
    containerSysctls: dadSysctls(i.ifName, i.addresses),
    interfaces: [
      { name: br, mac: bridgeMac(br) },
      { name: i.hostVeth, mac: i.hostMac },
      { name: i.ifName, mac: i.containerMac, mtu: i.mtu, sandbox: i.netns },
    ],
    ips: i.addresses.map((a) => ({ address: a.address, gateway: gateways.get(familyOf(a.address)) ?? addressOf(a.address), interface: 2 })),
    routes,
    routeOps: routes.map((r) => routeOp(r, i.ifName)),
  };
}
