// ADD: veth pair into the pod, addresses and routes per mode, masquerade. Undoes
// itself on any failure, so a failed ADD leaves neither a link nor a reservation.
import { statSync } from 'node:fs';
import { normalizeCIDR } from '../lib/ip.ts';
import { planBridge } from './bridge.ts';
import { parseNetConf, type NetConf } from './config.ts';
import { CniCode, CniError } from './errors.ts';
import { ipamFor } from './ipam.ts';
import { ipBatch, nodeLinkNames } from './link.ts';
import { masqAdd, masqRemoveWhere } from './masq.ts';
import { detectMtu, nodeFileMtu } from './mtu.ts';
import { attachmentAlias, hostVethName, randomMac, ROUTED_HOST_MAC, type Attachment } from './names.ts';
import { addressOf, type AttachPlan } from './attach.ts';
import { parseResult } from './parse-result.ts';
import type { Result } from './result.ts';
import { planRouted } from './routed.ts';
import type { Request } from './skel.ts';
import { writeSysctls } from './sysctl.ts';

/** The pod's netns must exist and must not be the plugin's own. */
export function checkNetns(path: string): void {
  let target;
  try {
    target = statSync(path);
  } catch (err) {
    throw new CniError(CniCode.unknownContainer, `failed to open netns "${path}"`, (err as Error).message);
  }
  const own = statSync('/proc/self/ns/net');
  if (target.ino === own.ino && target.dev === own.dev) {
    throw new CniError(CniCode.invalidNetns, `CNI_NETNS "${path}" is the plugin's own network namespace`);
  }
}

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

export async function cmdAdd(req: Request): Promise<Result> {
  const conf = parseNetConf(req.config, req.networkName, req.cniVersion);
  const prev = conf.prevResult === undefined ? undefined : parseResult(conf.prevResult, 'prevResult');
  checkNetns(req.netns);
  const att: Attachment = { network: conf.name, containerId: req.containerId, ifName: req.ifName };
  const hostVeth = hostVethName(att);
  const nodeLinks = nodeLinkNames();
  if (nodeLinks.has(hostVeth)) {
    throw new CniError(CniCode.internal, `container ${req.containerId} already has interface ${req.ifName} on network ${conf.name}`, `host veth ${hostVeth} exists; DEL first`);
  }
  const mtu = conf.mtu ?? (conf.nodeFile !== undefined ? nodeFileMtu(conf.nodeFile) : detectMtu(conf.encapOverhead));
  const ipam = await ipamFor(conf.ipam, req);
  const alloc = await ipam.add();
  const undo: Array<() => unknown> = [() => ipam.del()];
  try {
    const input = {
      conf, netns: req.netns, ifName: req.ifName, mtu, hostVeth,
      hostMac: conf.mode === 'routed' ? ROUTED_HOST_MAC : randomMac(), containerMac: randomMac(),
      alias: attachmentAlias(att), addresses: alloc.addresses, routes: alloc.routes,
      bridgeExists: nodeLinks.has(conf.bridge),
    };
    const plan = conf.mode === 'routed' ? planRouted(input) : planBridge(input);
    undo.push(() => ipBatch({}, [{ cmd: `link del ${hostVeth}`, mayFail: 'Cannot find device' }]));
    ipBatch({}, plan.hostLines);
    writeSysctls(plan.hostSysctls);
    ipBatch({ netns: req.netns, preSysctls: plan.containerSysctls }, plan.containerLines);
    if (conf.ipMasq) {
      undo.push(() => masqRemoveWhere((a) => a.network === att.network && a.containerId === att.containerId && a.ifName === att.ifName));
      masqAdd(att, alloc.addresses.map((a) => addressOf(a.address)), clusterCIDRs(conf, alloc.addresses.map((a) => a.address)));
    }
    return mergeResult(prev, plan, alloc.dns ?? conf.dns, req.cniVersion);
  } catch (err) {
    for (const step of undo.reverse()) {
      try { await step(); } catch { /* best effort: the original error is what matters */ }
    }
    throw err;
  }
}
