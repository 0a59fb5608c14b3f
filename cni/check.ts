// CHECK: the pod's interface, addresses and routes listed in prevResult must be
// there (extra ones added by later plugins are fine), the host side must be in
// place, the masquerade elements present and the IPAM reservation held.
import { normalizeCIDR } from '../lib/ip.ts';
import { addressOf, familyOf } from './attach.ts';
import { checkNetns } from './add.ts';
import { parseNetConf } from './config.ts';
import { CniCode, CniError } from './errors.ts';
import { ipamFor } from './ipam.ts';
import { ipJsonBatch } from './link.ts';
import { masqAddressesOf } from './masq.ts';
import { hostVethName, type Attachment } from './names.ts';
import { parseResult } from './parse-result.ts';
import type { Result, Route } from './result.ts';
import type { Request } from './skel.ts';

interface IpAddr { ifname?: string; master?: string; operstate?: string; flags?: string[]; addr_info?: Array<{ local?: string; prefixlen?: number }> }
interface IpRoute { dst?: string; gateway?: string; dev?: string; table?: string; pref?: string }

function fail(msg: string, details?: string): never {
  throw new CniError(CniCode.internal, msg, details);
}

/** A route's destination as a CIDR ("default" and bare addresses included). */
function routeKey(dst: string, family: 4 | 6): string {
  if (dst === 'default') return family === 4 ? '0.0.0.0/0' : '::/0';
  const withLen = dst.includes('/') ? dst : `${dst}/${family === 4 ? 32 : 128}`;
  return normalizeCIDR(withLen) ?? withLen;
}

function ipRouteFamily(r: IpRoute): 4 | 6 {
  return r.pref !== undefined || (r.dst ?? '').includes(':') || (r.gateway ?? '').includes(':') ? 6 : 4;
}

/** The expected routes missing from the live ones. */
export function missingRoutes(expected: readonly Route[], live: readonly IpRoute[]): Route[] {
  const have = new Set(live.filter((r) => r.table === undefined || r.table === 'main').map((r) => `${routeKey(r.dst ?? '', ipRouteFamily(r))} ${r.gateway ?? ''}`));
  return expected.filter((r) => !have.has(`${routeKey(r.dst, familyOf(r.dst))} ${r.gw ?? ''}`));
}

export function missingAddresses(expected: readonly string[], link: IpAddr | undefined): string[] {
  const have = new Set((link?.addr_info ?? []).map((a) => `${a.local ?? ''}/${a.prefixlen ?? ''}`));
  return expected.filter((cidr) => !have.has(cidr));
}

function ourInterface(prev: Result, ifName: string, netns: string): number {
  const i = prev.interfaces.findIndex((x) => x.name === ifName && x.sandbox === netns);
  if (i < 0) fail(`prevResult has no interface ${ifName} in ${netns}`);
  return i;
}

export async function cmdCheck(req: Request): Promise<void> {
  const conf = parseNetConf(req.config, req.networkName, req.cniVersion);
  if (conf.prevResult === undefined) throw new CniError(CniCode.invalidNetworkConfig, 'required prevResult missing');
  const prev = parseResult(conf.prevResult, 'prevResult');
  checkNetns(req.netns);
  const index = ourInterface(prev, req.ifName, req.netns);
  const addresses = prev.ips.filter((ip) => ip.interface === index).map((ip) => ip.address);
  const families = new Set(addresses.map(familyOf));
  const att: Attachment = { network: conf.name, containerId: req.containerId, ifName: req.ifName };
  const hostVeth = hostVethName(att);

  let pod: unknown[][];
  try {
    pod = ipJsonBatch({ netns: req.netns }, [`addr show dev ${req.ifName}`, 'route show table all']);
  } catch (err) {
    fail(`interface ${req.ifName} not found in ${req.netns}`, (err as Error).message);
  }
  const link = (pod[0] as IpAddr[] | undefined)?.[0];
  const lostAddrs = missingAddresses(addresses, link);
  if (lostAddrs.length > 0) fail(`address ${lostAddrs.join(', ')} missing on ${req.ifName} in ${req.netns}`);
  if (!link?.flags?.includes('UP')) fail(`interface ${req.ifName} in ${req.netns} is down`);
  const lostRoutes = missingRoutes(prev.routes.filter((r) => families.has(familyOf(r.dst))), (pod[1] ?? []) as IpRoute[]);
  if (lostRoutes.length > 0) fail(`route ${lostRoutes.map((r) => `${r.dst}${r.gw ? ` via ${r.gw}` : ''}`).join(', ')} missing in ${req.netns}`);

  let host: unknown[][];
  try {
    host = ipJsonBatch({}, [`link show dev ${hostVeth}`, `route show table all dev ${hostVeth}`]);
  } catch (err) {
    fail(`host veth ${hostVeth} of ${req.containerId}/${req.ifName} is missing`, (err as Error).message);
  }
  const hv = (host[0] as IpAddr[] | undefined)?.[0];
  if (!hv?.flags?.includes('UP')) fail(`host veth ${hostVeth} is down`);
  if (conf.mode === 'bridge' && hv.master !== conf.bridge) fail(`host veth ${hostVeth} is not a port of bridge ${conf.bridge}`);
  if (conf.mode === 'routed') {
    const hostRoutes = addresses.map((a) => ({ dst: `${addressOf(a)}/${familyOf(a) === 4 ? 32 : 128}` }));
    const lost = missingRoutes(hostRoutes, (host[1] ?? []) as IpRoute[]);
    if (lost.length > 0) fail(`node route to ${lost.map((r) => r.dst).join(', ')} via ${hostVeth} missing`);
  }
  if (conf.ipMasq) {
    const held = new Set(masqAddressesOf(att));
    const lost = addresses.map(addressOf).filter((a) => !held.has(a));
    if (lost.length > 0) fail(`masquerade entry for ${lost.join(', ')} missing`, 'nftables table inet kpr-cni-nat');
  }
  await (await ipamFor(conf.ipam, req)).check();
}
