// kpr-cni's network configuration (the plugin object of a conflist): validated with
// zod/mini at the edge; unknown keys are ignored, wrong types refused with code 7
// naming the key.
import * as z from 'zod/mini';
import { interfaceNameProblem, MAX_CNI_NETWORK_NAME } from '../lib/cni-names.ts';
import { normalizeCIDR } from '../lib/ip.ts';
import { CniCode, CniError } from './errors.ts';
import { describeIssue } from './issues.ts';
import type { DNS } from './result.ts';

export type Mode = 'bridge' | 'routed';

export interface NetConf {
  name: string;
  cniVersion: string;
  mode: Mode;
  /** Bridge device on the node (bridge mode). */
  bridge: string;
  /** Veth (and bridge) MTU; detected from the node's uplink when absent. */
  mtu?: number;
  /** Bytes an overlay adds per packet, subtracted from a detected MTU (vxlan: 50). */
  encapOverhead: number;
  ipMasq: boolean;
  /** Destinations not masqueraded; the pod's own subnets when absent. */
  clusterCIDRs?: string[];
  hairpinMode: boolean;
  ipam: { type: string } & Record<string, unknown>;
  /** The previous plugin's result (chaining), as received. */
  prevResult?: unknown;
  runtimeConfig: { ips?: string[] };
  args?: { cni?: { ips?: string[] } };
  /** The well-known "dns" key, reported when IPAM gives none. */
  dns?: DNS;
  /** The node file `kpr network` writes: the MTU when `mtu` is absent, kpr-ipam's pod CIDRs when its ipam names none. */
  nodeFile?: string;
}

const ifName = z.string().check(z.refine((s) => interfaceNameProblem(s) === undefined, { error: 'expected an interface name (1-15 printable ASCII bytes, no "/", ":", "#", "%", quotes or "\\")' }));
const cidr = z.string().check(z.refine((s) => normalizeCIDR(s) !== undefined, { error: 'expected a CIDR' }));

const Schema = z.looseObject({
  type: z.string(),
  mode: z._default(z.enum(['bridge', 'routed']), 'bridge'),
  bridge: z._default(ifName, 'kpr0'),
  mtu: z.optional(z.int().check(z.minimum(68), z.maximum(65535))),
  encapOverhead: z._default(z.int().check(z.minimum(0), z.maximum(1000)), 0),
  ipMasq: z._default(z.boolean(), false),
  clusterCIDRs: z.optional(z.array(cidr)),
  hairpinMode: z._default(z.boolean(), true),
  ipam: z.looseObject({ type: z.string().check(z.regex(/^[^/]+$/, { error: 'expected a plugin name without "/"' })) }),
  prevResult: z.optional(z.unknown()),
  runtimeConfig: z._default(z.looseObject({ ips: z.optional(z.array(z.string())) }), {}),
  dns: z.optional(z.looseObject({
    nameservers: z.optional(z.array(z.string())),
    domain: z.optional(z.string()),
    search: z.optional(z.array(z.string())),
    options: z.optional(z.array(z.string())),
  })),
  nodeFile: z.optional(z.string().check(z.minLength(1, { error: 'expected a path' }))),
  args: z.optional(z.looseObject({ cni: z.optional(z.looseObject({ ips: z.optional(z.array(z.string())) })) })),
});

/**
 * The network name is in every attachment's alias and masquerade comment
 * (lib/cni-names.ts): bounded for new attachments, while DEL, CHECK and GC still take
 * a longer name an older kpr attached with.
 */
export function checkNameForAdd(conf: NetConf): void {
  if (conf.name.length > MAX_CNI_NETWORK_NAME) {
    throw new CniError(CniCode.invalidNetworkConfig, `invalid network config: key "name": at most ${MAX_CNI_NETWORK_NAME} characters for kpr-cni`, conf.name);
  }
}

export function parseNetConf(raw: Readonly<Record<string, unknown>>, name: string, cniVersion: string): NetConf {
  const parsed = Schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = issue?.path.map(String).join('.') ?? '';
    throw new CniError(CniCode.invalidNetworkConfig, `invalid network config: key "${key}": ${issue ? describeIssue(issue, raw) : 'invalid'}`);
  }
  const c = parsed.data;
  const conf: NetConf = {
    name,
    cniVersion,
    mode: c.mode,
    bridge: c.bridge,
    encapOverhead: c.encapOverhead,
    ipMasq: c.ipMasq,
    hairpinMode: c.hairpinMode,
    ipam: c.ipam,
    runtimeConfig: c.runtimeConfig,
  };
  if (c.mtu !== undefined) conf.mtu = c.mtu;
  if (c.nodeFile !== undefined) {
    conf.nodeFile = c.nodeFile;
    // One conflist for every node: in-process kpr-ipam without ranges allocates from the node's pod CIDRs.
    const ipam = c.ipam;
    if (ipam.type === 'kpr-ipam' && ipam.ranges === undefined && ipam.subnet === undefined && ipam.podCIDRFile === undefined) {
      conf.ipam = { ...c.ipam, podCIDRFile: c.nodeFile };
    }
  }
  if (c.clusterCIDRs) conf.clusterCIDRs = c.clusterCIDRs.map((s) => normalizeCIDR(s) ?? s);
  if (c.prevResult !== undefined) conf.prevResult = c.prevResult;
  if (c.args) conf.args = c.args;
  if (c.dns && Object.keys(c.dns).length > 0) {
    const { nameservers, domain, search, options } = c.dns;
    conf.dns = { ...(nameservers && { nameservers }), ...(domain !== undefined && { domain }), ...(search && { search }), ...(options && { options }) };
  }
  return conf;
}
