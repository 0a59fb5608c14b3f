// The IPAM behind a network: "kpr-ipam" is served in-process by ipam/ (no exec),
// any other type is a delegated plugin found in CNI_PATH.
import type { Attachment as IpamAttachment } from '../ipam/index.ts';
import type { PodAddress } from './attach.ts';
import { execDelegate } from './delegate.ts';
import { CniCode, CniError } from './errors.ts';
import { parseResult } from './parse-result.ts';
import type { DNS, Route } from './result.ts';
import type { Request } from './skel.ts';

export const IN_PROCESS_TYPE = 'kpr-ipam';

export interface IpamAllocation {
  addresses: PodAddress[];
  routes: Route[];
  dns?: DNS;
}

export interface Ipam {
  add(): Promise<IpamAllocation>;
  del(): Promise<void>;
  check(): Promise<void>;
  status(): Promise<void>;
  gc(valid: readonly IpamAttachment[]): Promise<void>;
}

export interface IpamSection {
  type: string;
  [key: string]: unknown;
}

function delegated(section: IpamSection, req: Request): Ipam {
  const call = (command: 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC') =>
    execDelegate({ type: section.type, command, env: req.env, cniPath: req.cniPath, stdin: req.stdin });
  return {
    async add() {
      const out = call('ADD');
      let raw: unknown;
      try { raw = JSON.parse(out); } catch (err) {
        throw new CniError(CniCode.decodeFailure, `cannot decode the result of IPAM plugin ${section.type}`, (err as Error).message);
      }
      const r = parseResult(raw, `the result of IPAM plugin ${section.type}`);
      if (r.ips.length === 0) throw new CniError(CniCode.invalidNetworkConfig, `IPAM plugin ${section.type} returned no IP addresses`);
      const alloc: IpamAllocation = { addresses: r.ips.map((ip) => (ip.gateway ? { address: ip.address, gateway: ip.gateway } : { address: ip.address })), routes: r.routes };
      if (r.dns) alloc.dns = r.dns;
      return alloc;
    },
    async del() { call('DEL'); },
    async check() { call('CHECK'); },
    async status() { call('STATUS'); },
    // The runtime's valid-attachments list travels in the forwarded config.
    async gc() { call('GC'); },
  };
}

/** Addresses the runtime asks for, by the conventions' precedence: runtimeConfig.ips, args.cni.ips, CNI_ARGS IP. */
export function requestedIPs(config: Readonly<Record<string, unknown>>, cniArgs: Readonly<Record<string, string>>): string[] | undefined {
  const strings = (v: unknown) => (Array.isArray(v) && v.every((x) => typeof x === 'string') && v.length > 0 ? (v as string[]) : undefined);
  const rc = config.runtimeConfig as { ips?: unknown } | undefined;
  const args = config.args as { cni?: { ips?: unknown } } | undefined;
  return strings(rc?.ips) ?? strings(args?.cni?.ips) ?? (cniArgs.IP ? cniArgs.IP.split(',') : undefined);
}

async function inProcess(section: IpamSection, req: Request): Promise<Ipam> {
  const lib = await import('../ipam/index.ts');
  const cfg = lib.parseIpamConfig(section, req.networkName);
  const att = { containerId: req.containerId, ifName: req.ifName };
  return {
    async add() {
      const requested = requestedIPs(req.config, req.cniArgs);
      const r = await lib.allocate(cfg, {
        ...att,
        ...(req.cniArgs.K8S_POD_NAMESPACE ? { podNamespace: req.cniArgs.K8S_POD_NAMESPACE } : {}),
        ...(req.cniArgs.K8S_POD_NAME ? { podName: req.cniArgs.K8S_POD_NAME } : {}),
        ...(requested ? { requestedIPs: requested } : {}),
      });
      const alloc: IpamAllocation = { addresses: r.ips.map((ip) => ({ ...ip })), routes: r.routes.map((x) => ({ ...x })) };
      if (r.dns) alloc.dns = { ...r.dns };
      return alloc;
    },
    async del() { await lib.release(cfg, att); },
    async check() {
      const held = await lib.check(cfg, att);
      if (!held) throw new CniError(CniCode.internal, `no address reserved for ${att.containerId}/${att.ifName} on network ${req.networkName}`);
    },
    async status() { await lib.status(cfg); },
    async gc(valid) { await lib.gc(cfg, valid); },
  };
}

export async function ipamFor(section: IpamSection, req: Request): Promise<Ipam> {
  return section.type === IN_PROCESS_TYPE ? inProcess(section, req) : delegated(section, req);
}
