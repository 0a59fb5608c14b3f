// Bridge mode: the pod's veth is a port of a node bridge that holds each family's
// gateway address; hairpin lets a pod reach itself through a Service address.
import { addressOf, dadSysctls, familyOf, firstHost, forwardingSysctls, podRoutes, routeLine, vethLines, type AttachInput, type AttachPlan } from './attach.ts';
import type { BatchLine } from './link.ts';
import { bridgeMac } from './names.ts';
import type { IPFamily } from '../lib/ip.ts';

export function planBridge(i: AttachInput): AttachPlan {
  const br = i.conf.bridge;
  const gateways = new Map<IPFamily, string>();
  const host: BatchLine[] = [];
  if (!i.bridgeExists) {
    // Two first pods may race to create it; the loser's "File exists" is fine.
    host.push({ cmd: `link add ${br} mtu ${i.mtu} address ${bridgeMac(br)} type bridge`, mayFail: 'File exists' });
  }
  for (const a of i.addresses) {
    const family = familyOf(a.address);
    const gw = a.gateway ?? firstHost(a.address);
    gateways.set(family, gw);
    const prefix = a.address.split('/')[1] ?? '';
    host.push({ cmd: `addr replace ${gw}/${prefix} dev ${br}${family === 6 ? ' nodad' : ''}` });
  }
  host.push({ cmd: `link set ${br} up` }, ...vethLines(i), { cmd: `link set ${i.hostVeth} master ${br}` });
  if (i.conf.hairpinMode) host.push({ cmd: `link set ${i.hostVeth} type bridge_slave hairpin on` });
  host.push({ cmd: `link set ${i.hostVeth} up` });

  const routes = podRoutes(i.routes, gateways);
  const container: BatchLine[] = [
    ...i.addresses.map((a) => ({ cmd: `addr add ${a.address} dev ${i.ifName}${familyOf(a.address) === 6 ? ' nodad' : ''}` })),
    { cmd: `link set ${i.ifName} up` },
  ];
  return {
    hostLines: host,
    hostSysctls: forwardingSysctls(i.addresses),
    containerLines: container,
    containerSysctls: dadSysctls(i.ifName, i.addresses),
    interfaces: [
      { name: br, mac: bridgeMac(br) },
      { name: i.hostVeth, mac: i.hostMac },
      { name: i.ifName, mac: i.containerMac, mtu: i.mtu, sandbox: i.netns },
    ],
    ips: i.addresses.map((a) => ({ address: a.address, gateway: gateways.get(familyOf(a.address)) ?? addressOf(a.address), interface: 2 })),
    routes,
    routeLines: routes.map((r) => routeLine(r, i.ifName)),
  };
}
