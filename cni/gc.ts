// GC: remove what belongs to attachments of this network that the runtime no longer
// lists in cni.dev/valid-attachments: IPAM reservations (forwarded to IPAM), host
// veths (found by their alias) and masquerade elements. Continues past errors and
// reports them together.
import * as z from 'zod/mini';
import { parseNetConf } from './config.ts';
import { CniCode, CniError, toCniError } from './errors.ts';
import { ipamFor } from './ipam.ts';
import { ipBatch, ipJson } from './link.ts';
import { masqRemoveWhere } from './masq.ts';
import { attachmentKey, parseAttachmentAlias } from './names.ts';
import type { Request } from './skel.ts';

const Attachments = z.array(z.looseObject({ containerID: z.string(), ifname: z.string() }));

/** The valid attachments (the misspelt legacy key is accepted too). */
export function validAttachments(config: Readonly<Record<string, unknown>>): Array<{ containerId: string; ifName: string }> {
  const raw = config['cni.dev/valid-attachments'] ?? config['cni.dev/attachments'] ?? [];
  const parsed = Attachments.safeParse(raw);
  if (!parsed.success) {
    throw new CniError(CniCode.invalidNetworkConfig, 'invalid network config: key "cni.dev/valid-attachments": expected [{"containerID", "ifname"}]');
  }
  return parsed.data.map((a) => ({ containerId: a.containerID, ifName: a.ifname }));
}

/** Host veths of this network whose attachment is not valid. */
export function staleHostVeths(links: ReadonlyArray<{ ifname?: string; ifalias?: string }>, network: string, valid: ReadonlySet<string>): string[] {
  return links.flatMap((l) => {
    const a = l.ifalias ? parseAttachmentAlias(l.ifalias) : undefined;
    return a && l.ifname && a.network === network && !valid.has(attachmentKey(a.containerId, a.ifName)) ? [l.ifname] : [];
  });
}

export async function cmdGc(req: Request): Promise<void> {
  const conf = parseNetConf(req.config, req.networkName, req.cniVersion);
  const validList = validAttachments(req.config);
  const valid = new Set(validList.map((a) => attachmentKey(a.containerId, a.ifName)));
  const errors: string[] = [];
  const attempt = async (what: string, fn: () => unknown) => {
    try { await fn(); } catch (err) { errors.push(`${what}: ${toCniError(err).message}`); }
  };
  await attempt('IPAM', async () => (await ipamFor(conf.ipam, req)).gc(validList));
  await attempt('host veths', () => {
    const stale = staleHostVeths(ipJson({}, ['link', 'show', 'type', 'veth']) as Array<{ ifname?: string; ifalias?: string }>, conf.name, valid);
    ipBatch({}, stale.map((name) => ({ cmd: `link del ${name}`, mayFail: 'Cannot find device' })));
  });
  await attempt('masquerade', () => masqRemoveWhere((a) => a.network === conf.name && !valid.has(attachmentKey(a.containerId, a.ifName))));
  if (errors.length > 0) throw new CniError(CniCode.internal, `GC of network ${conf.name} finished with ${errors.length} error(s)`, errors.join('; '));
}
