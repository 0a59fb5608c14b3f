// DEL: best effort and never failing for what is already gone (netns, container,
// link). The IP is released first, before anything that touches the pod, so that a
// missing netns cannot stand in the way of it.
import { parseNetConf } from './config.ts';
import { ipamFor } from './ipam.ts';
import { nodeLinkNames } from './link.ts';
import { masqRemoveWhere } from './masq.ts';
import { hostVethName, type Attachment } from './names.ts';
import { withNodeLinks } from './rtnetlink.ts';
import type { Request } from './skel.ts';

export function sameAttachment(a: Attachment, b: Attachment): boolean {
  return a.network === b.network && a.containerId === b.containerId && a.ifName === b.ifName;
}

export async function cmdDel(req: Request): Promise<void> {
  const conf = parseNetConf(req.config, req.networkName, req.cniVersion);
  const att: Attachment = { network: conf.name, containerId: req.containerId, ifName: req.ifName };
  const errors: unknown[] = [];
  try { await (await ipamFor(conf.ipam, req)).del(); } catch (err) { errors.push(err); }
  // Deleting the host end removes the pod end, its addresses and the node's routes to it.
  const hostVeth = hostVethName(att);
  if (nodeLinkNames().has(hostVeth)) {
    try { await withNodeLinks((links) => links.apply([{ op: 'del-link', name: hostVeth }])); } catch (err) { errors.push(err); }
  }
  if (conf.ipMasq) {
    try { await masqRemoveWhere((a) => sameAttachment(a, att)); } catch (err) { errors.push(err); }
  }
  if (errors.length > 0) throw errors[0];
}
