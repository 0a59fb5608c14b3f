// DEL: best effort and never failing for what is already gone (netns, container,
// link). Releasing the IP, removing the masquerade elements and deleting the veth are
// independent: each is attempted whatever the others do (a missing netns cannot stand
// in the way of the release). The deletion is most of a DEL: the kernel answers
// RTM_DELLINK after an RCU grace period (15-28 ms), and the thread that sends it waits
// in sendmsg(2). Sending it from a worker thread, to overlap the release, was measured
// and gained nothing: the release and the masquerade take 1-3 ms.
import { parseNetConf } from './config.ts';
import { ipamFor } from './ipam.ts';
import { nodeLinkNames } from './link.ts';
import { masqRemoveWhere } from './masq.ts';
import { hostVethName, type Attachment } from './names.ts';
import { withLinks } from './rtnetlink.ts';
import type { Request } from './skel.ts';

export function sameAttachment(a: Attachment, b: Attachment): boolean {
  return a.network === b.network && a.containerId === b.containerId && a.ifName === b.ifName;
}

export async function cmdDel(req: Request): Promise<void> {
  const conf = parseNetConf(req.config, req.networkName, req.cniVersion);
  const att: Attachment = { network: conf.name, containerId: req.containerId, ifName: req.ifName };
  const hostVeth = hostVethName(att);
  // The steps start in turn and none waits for another's outcome. All three are tried;
  // the first failure in this order is reported.
  let release: Promise<void>;
  try { release = (await ipamFor(conf.ipam, req)).del(); } catch (err) { release = Promise.reject(err); }
  const unmasquerade = conf.ipMasq ? masqRemoveWhere((a) => sameAttachment(a, att)) : undefined;
  // Deleting the host end removes the pod end, its addresses and the node's routes to it.
  const unlink = nodeLinkNames().has(hostVeth) ? withLinks({}, (links) => links.apply([{ op: 'del-link', name: hostVeth }])) : undefined;
  const failed = (await Promise.allSettled([release, unlink, unmasquerade])).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}
