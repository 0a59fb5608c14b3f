// ADD: veth pair into the pod, addresses and routes per mode, masquerade. Undoes
// itself on any failure, so a failed ADD leaves neither a link nor a reservation.
import { KprError } from '../lib/errors.ts';
import { faultPoint } from '../lib/fault.ts';
import { normalizeCIDR } from '../lib/ip.ts';
import { planBridge } from './bridge.ts';
import { checkNameForAdd, parseNetConf, type NetConf } from './config.ts';
import { CniCode, CniError } from './errors.ts';
import { ipamFor } from './ipam.ts';
import { ipJson, nodeLinkNames } from './link.ts';
import type { Links } from './link-ops.ts';
import { withLinks } from './rtnetlink.ts';
import { masqAdd, masqRemoveWhere } from './masq.ts';
import { checkNetns } from './netns.ts';
import { detectMtu, nodeFileMtu } from './mtu.ts';
import { attachmentAlias, hostVethName, randomMac, ROUTED_HOST_MAC, type Attachment } from './names.ts';
import { addressOf, type AttachPlan } from './attach.ts';
import { parseResult } from './parse-result.ts';
import type { Result, Route } from './result.ts';
import { settleTakenRoutes, type IpRoute } from './routes.ts';
import { planRouted } from './routed.ts';
import type { Request } from './skel.ts';
import { writeSysctls } from './sysctl.ts';

/** prevResult (if any) followed by this plugin's interfaces, IPs and routes. */
export function mergeResult(prev: Result | undefined, plan: AttachPlan, dns: Result['dns'], cniVersion: string): Result {
  const base = prev?.interfaces.length ?? 0;
  const result: Result = {
    cniVersion,
    interfaces: [...(prev?.interfaces ?? []), ...plan.interfaces],
    ips: [...(prev?.ips ?? []), ...plan.ips.map((ip) => (ip.interface === undefined ? ip : { ...ip, interface: ip.interface + base }))],
    routes: [...(prev?.routes ?? []), ...plan.routes],
  };
  const d = dns ?? prev?.dns;
  if (d) result.dns = d;
  return result;
}

function clusterCIDRs(conf: NetConf, podCIDRs: readonly string[]): string[] {
  return conf.clusterCIDRs ?? podCIDRs.map((c) => normalizeCIDR(c) ?? c);
}

/**
 * Configures the pod end and its routes over a socket in the pod's netns (accept_dad
 * written there first); returns the routes it holds. A route whose destination is
 * taken (another attachment of the pod got there first) is settled against the pod's
 * routes: identical is done, a default route is left to the other attachment (and out
 * of the result), anything else fails the ADD.
 */
async function podRoutesAdded(req: Request, plan: AttachPlan): Promise<Route[]> {
  const pod = { netns: req.netns, preSysctls: plan.containerSysctls };
  const base = plan.containerOps.length;
  const tolerated = await withLinks(pod, (links) => links.apply([...plan.containerOps, ...plan.routeOps]));
  const taken = tolerated.filter((n) => n >= base).map((n) => plan.routes[n - base]).filter((r) => r !== undefined);
  if (taken.length === 0) return plan.routes;
  // Only a second attachment of the pod gets here: reading the routes with one `ip -j`
  // spawn is simpler than decoding an RTM_GETROUTE dump, and off the common path.
  const live = ipJson({ netns: req.netns }, ['route', 'show', 'table', 'all']) as IpRoute[];
  const { leftOut, clashes } = settleTakenRoutes(taken, live, req.ifName);
  if (clashes.length > 0) {
    throw new KprError('KERNEL', `route to ${clashes.join('; ')} already exists in the pod`, { object: `${req.containerId}/${req.ifName}` });
  }
  return plan.routes.filter((r) => !leftOut.includes(r));
}

export async function cmdAdd(req: Request): Promise<Result> {
  return withLinks({}, (links) => add(req, links));
}

async function add(req: Request, links: Links): Promise<Result> {
  const conf = parseNetConf(req.config, req.networkName, req.cniVersion);
  checkNameForAdd(conf);
  const prev = conf.prevResult === undefined ? undefined : parseResult(conf.prevResult, 'prevResult');
  checkNetns(req.netns);
  const att: Attachment = { network: conf.name, containerId: req.containerId, ifName: req.ifName };
  const hostVeth = hostVethName(att);
  const nodeLinks = nodeLinkNames();
  if (nodeLinks.has(hostVeth)) {
    throw new CniError(CniCode.internal, `container ${req.containerId} already has interface ${req.ifName} on network ${conf.name}`, `host veth ${hostVeth} exists; DEL first`);
  }
  const mtu = conf.mtu ?? (conf.nodeFile !== undefined ? nodeFileMtu(conf.nodeFile) : await detectMtu(conf.encapOverhead, links));
  const ipam = await ipamFor(conf.ipam, req);
  const alloc = await ipam.add();
  faultPoint('ipam-allocated');
  const undo: Array<() => unknown> = [() => ipam.del()];
  try {
    const input = {
      conf, netns: req.netns, ifName: req.ifName, mtu, hostVeth,
      hostMac: conf.mode === 'routed' ? ROUTED_HOST_MAC : randomMac(), containerMac: randomMac(),
      alias: attachmentAlias(att), addresses: alloc.addresses, routes: alloc.routes,
      bridgeExists: nodeLinks.has(conf.bridge),
    };
    const plan = conf.mode === 'routed' ? planRouted(input) : planBridge(input);
    undo.push(() => links.apply([{ op: 'del-link', name: hostVeth }]));
    await links.apply(plan.hostOps);
    faultPoint('host-links');
    writeSysctls(plan.hostSysctls);
    faultPoint('host-sysctls');
    const routes = await podRoutesAdded(req, plan);
    faultPoint('pod-configured');
    if (conf.ipMasq) {
      undo.push(() => masqRemoveWhere((a) => a.network === att.network && a.containerId === att.containerId && a.ifName === att.ifName));
      await masqAdd(att, alloc.addresses.map((a) => addressOf(a.address)), clusterCIDRs(conf, alloc.addresses.map((a) => a.address)));
    }
    faultPoint('added');
    return mergeResult(prev, { ...plan, routes }, alloc.dns ?? conf.dns, req.cniVersion);
  } catch (err) {
    for (const step of undo.reverse()) {
      try { await step(); } catch { /* best effort: the original error is what matters */ }
    }
    throw err;
  }
}
