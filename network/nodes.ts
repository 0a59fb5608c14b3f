// Node objects from the API, validated at the edge into what the pod network needs of
// each: its pod CIDRs, InternalIPs and VTEP MACs, one of each per family. A Node that
// cannot be used is reported with its name and why, never thrown past the caller.
import * as z from 'zod';
import { ipFamily, normalizeCIDR, normalizeIP, parseCIDR, type IPFamily } from '../lib/ip.ts';

/** The annotation carrying a Node's VXLAN device MAC, per overlay family. */
export const VTEP_MAC_ANNOTATION: Record<IPFamily, string> = { 4: 'kpr.io/vxlan-vtep-mac', 6: 'kpr.io/vxlan6-vtep-mac' };

export type PerFamily<T> = Partial<Record<IPFamily, T>>;

export interface NetNode {
  name: string;
  /** Canonical pod CIDR per family (spec.podCIDRs, else spec.podCIDR). */
  podCIDRs: PerFamily<string>;
  /** The first InternalIP of each family (canonical). */
  internalIPs: PerFamily<string>;
  /** VTEP MAC per overlay family, from the kpr.io annotations (lower case). */
  vtepMACs: PerFamily<string>;
}

export type NodeParse = { ok: true; node: NetNode } | { ok: false; name: string; reason: string };

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

const nodeSchema = z.object({
  metadata: z.object({ name: z.string().min(1), annotations: z.record(z.string(), z.string()).nullish() }),
  spec: z.object({ podCIDR: z.string().nullish(), podCIDRs: z.array(z.string()).nullish() }).nullish(),
  status: z.object({ addresses: z.array(z.object({ type: z.string(), address: z.string() })).nullish() }).nullish(),
});

/** The name of a raw object, for reports about objects that do not parse. */
export function nameOf(raw: unknown): string {
  const name = (raw as { metadata?: { name?: unknown } } | null)?.metadata?.name;
  return typeof name === 'string' ? name : '<unnamed>';
}

export function parseNode(raw: unknown): NodeParse {
  const r = nodeSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    return { ok: false, name: nameOf(raw), reason: `malformed Node: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}` };
  }
  const { metadata, spec, status } = r.data;
  const name = metadata.name;
  const fail = (reason: string): NodeParse => ({ ok: false, name, reason });

  const rawCIDRs = spec?.podCIDRs?.length ? spec.podCIDRs : spec?.podCIDR ? [spec.podCIDR] : [];
  if (rawCIDRs.length === 0) return fail('no pod CIDR (spec.podCIDRs) assigned');
  const podCIDRs: PerFamily<string> = {};
  for (const text of rawCIDRs) {
    const cidr = normalizeCIDR(text);
    const family = parseCIDR(text)?.family;
    if (!cidr || !family) return fail(`malformed pod CIDR ${JSON.stringify(text)}`);
    if (podCIDRs[family]) return fail(`two IPv${family} pod CIDRs (${podCIDRs[family]}, ${cidr})`);
    podCIDRs[family] = cidr;
  }

  const internalIPs: PerFamily<string> = {};
  for (const a of status?.addresses ?? []) {
    if (a.type !== 'InternalIP') continue;
    const ip = normalizeIP(a.address);
    const family = ipFamily(a.address);
    if (!ip || !family) return fail(`malformed InternalIP ${JSON.stringify(a.address)}`);
    internalIPs[family] ??= ip;
  }
  if (!internalIPs[4] && !internalIPs[6]) return fail('no InternalIP in status.addresses');

  const vtepMACs: PerFamily<string> = {};
  for (const family of [4, 6] as const) {
    const mac = metadata.annotations?.[VTEP_MAC_ANNOTATION[family]]?.trim().toLowerCase();
    if (mac !== undefined && MAC.test(mac)) vtepMACs[family] = mac;
  }
  return { ok: true, node: { name, podCIDRs, internalIPs, vtepMACs } };
}

/** The Node's VTEP MAC annotations as they are now (for a patch only when they differ). */
export function vtepAnnotationsOf(raw: unknown): PerFamily<string> {
  const annotations = (raw as { metadata?: { annotations?: Record<string, unknown> } } | null)?.metadata?.annotations ?? {};
  const out: PerFamily<string> = {};
  for (const family of [4, 6] as const) {
    const v = annotations[VTEP_MAC_ANNOTATION[family]];
    if (typeof v === 'string') out[family] = v;
  }
  return out;
}
