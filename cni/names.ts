// Names and addresses kpr-cni derives from an attachment, so that DEL and GC find
// what ADD made without any state of their own.
import { randomBytes, sha256 } from '../lib/crypto-lite.ts';

export interface Attachment {
  network: string;
  containerId: string;
  ifName: string;
}

/** Host end of the pod's veth: "kpr" + 12 hex digits (15 bytes, the kernel's limit). */
export function hostVethName(a: Attachment): string {
  return `kpr${sha256(`${a.network}/${a.containerId}/${a.ifName}`).toString('hex').slice(0, 12)}`;
}

/** The host veth's alias: lets GC map interfaces back to attachments. */
export function attachmentAlias(a: Attachment): string {
  return `kpr-cni/${a.network}/${a.containerId}/${a.ifName}`;
}

export function parseAttachmentAlias(alias: string): Attachment | undefined {
  const m = /^kpr-cni\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(alias);
  return m ? { network: m[1] ?? '', containerId: m[2] ?? '', ifName: m[3] ?? '' } : undefined;
}

/** A key for sets of attachments ("containerID/ifname"). */
export function attachmentKey(containerId: string, ifName: string): string {
  return `${containerId}/${ifName}`;
}

function formatMac(b: Buffer): string {
  return [...b.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** A random unicast, locally administered MAC (set explicitly so the result can report it without a read). */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return formatMac(b);
}

/** A stable MAC for the bridge: a bridge otherwise takes the lowest port MAC, which changes as pods come and go. */
export function bridgeMac(bridge: string): string {
  const b = sha256(`kpr-cni bridge ${bridge}`);
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return formatMac(b);
}

/** Routed mode: every host veth has this MAC, as Calico's do; only the pod behind it sees it. */
export const ROUTED_HOST_MAC = 'ee:ee:ee:ee:ee:ee';
/** Routed mode gateways, answered by proxy ARP / proxy NDP on the host veth. */
export const ROUTED_GATEWAY4 = '169.254.1.1';
export const ROUTED_GATEWAY6 = 'fe80::1';
