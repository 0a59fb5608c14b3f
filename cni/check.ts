// CHECK: the pod's interface, addresses and routes listed in prevResult must be
// there (extra ones added by later plugins are fine), the host side must be in
// place, the masquerade elements present and the IPAM reservation held.
import { addressOf, familyOf } from './attach.ts';
import { parseNetConf } from './config.ts';
import { CniCode, CniError } from './errors.ts';
import { ipamFor } from './ipam.ts';
import { ipJsonBatch } from './link.ts';
import { masqAddressesOf } from './masq.ts';
import { checkNetns } from './netns.ts';
import { hostVethName, type Attachment } from './names.ts';
import { parseResult } from './parse-result.ts';
import type { Result } from './result.ts';
import { missingRoutes, type IpRoute } from './routes.ts';
import type { Request } from './skel.ts';

interface IpAddr { ifname?: string; master?: string; operstate?: string; flags?: string[]; addr_info?: Array<{ local?: string; prefixlen?: number }> }

function fail(msg: string, details?: string): never {
  throw new CniError(CniCode.internal, msg, details);
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
