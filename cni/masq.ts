// ipMasq: pods' traffic to destinations outside the cluster CIDRs leaves with the
// node's address. One nftables table that kpr-cni owns holds a set of pod addresses
// (each element commented with its attachment, so DEL and GC find it without state)
// and the cluster CIDRs; the table goes away with the last pod.
import { KprError } from '../lib/errors.ts';
import { faultPoint } from '../lib/fault.ts';
import { withLock } from '../lib/lock.ts';
import { attachmentAlias, parseAttachmentAlias, type Attachment } from './names.ts';

export const MASQ_TABLE = 'inet kpr-cni-nat';
// Node-wide, flock(2)ed: serialises the read-modify-write of DEL and GC with ADDs.
const LOCK_PATH = '/run/kpr-cni/masq.lock';
// One nft transaction runs under it: a holder for this long is stuck, not busy.
const LOCK_TIMEOUT_MS = 10_000;

function locked(fn: () => void): Promise<void> {
  return withLock(LOCK_PATH, () => {
    faultPoint('masq-locked');
    fn();
    faultPoint('masq-applied');
  }, { timeoutMs: LOCK_TIMEOUT_MS, createDir: true });
}

export interface MasqElement {
  set: 'pods4' | 'pods6';
  address: string;
  attachment: Attachment;
}

/** The transaction for one pod: (re)declares the table, then adds its addresses. */
export function renderMasqAdd(a: Attachment, podAddresses: readonly string[], clusterCIDRs: readonly string[]): string {
  const t = MASQ_TABLE;
  const lines = [
    `add table ${t}`,
    `add set ${t} pods4 { type ipv4_addr; }`,
    `add set ${t} pods6 { type ipv6_addr; }`,
    `add set ${t} cluster4 { type ipv4_addr; flags interval; auto-merge; }`,
    `add set ${t} cluster6 { type ipv6_addr; flags interval; auto-merge; }`,
    `add chain ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    // Flush and re-add: concurrent ADDs converge on the same two rules.
    `flush chain ${t} postrouting`,
    `add rule ${t} postrouting ip saddr @pods4 ip daddr != @cluster4 ip daddr != 224.0.0.0/4 masquerade`,
    `add rule ${t} postrouting ip6 saddr @pods6 ip6 daddr != @cluster6 ip6 daddr != ff00::/8 masquerade`,
  ];
  for (const c of clusterCIDRs) lines.push(`add element ${t} cluster${c.includes(':') ? 6 : 4} { ${c} }`);
  const comment = attachmentAlias(a);
  for (const ip of podAddresses) lines.push(`add element ${t} pods${ip.includes(':') ? 6 : 4} { ${ip} comment "${comment}" }`);
  return `${lines.join('\n')}\n`;
}

/** Removes the elements; deletes the whole table when no pod element would remain. */
export function renderMasqRemove(all: readonly MasqElement[], remove: readonly MasqElement[]): string {
  if (remove.length === 0) return '';
  if (remove.length >= all.length) return `delete table ${MASQ_TABLE}\n`;
  return remove.map((e) => `delete element ${MASQ_TABLE} ${e.set} { ${e.address} }\n`).join('');
}

interface NftJson {
  nftables?: Array<{ set?: { name?: string; elem?: Array<{ elem?: { val?: unknown; comment?: unknown } } | unknown> } }>;
}

/** Pod elements from `nft -j list table` output. */
export function parseMasqElements(json: string): MasqElement[] {
  const out: MasqElement[] = [];
  for (const item of (JSON.parse(json) as NftJson).nftables ?? []) {
    const set = item.set;
    if (!set || (set.name !== 'pods4' && set.name !== 'pods6')) continue;
    for (const e of set.elem ?? []) {
      const elem = (e as { elem?: { val?: unknown; comment?: unknown } }).elem;
      const attachment = typeof elem?.comment === 'string' ? parseAttachmentAlias(elem.comment) : undefined;
      if (attachment && typeof elem?.val === 'string') out.push({ set: set.name, address: elem.val, attachment });
    }
  }
  return out;
}

function nft(args: readonly string[], input?: string): { ok: boolean; stdout: string; stderr: string } {
  // Loaded here only: a plugin without ipMasq never needs node:child_process (~2 ms a call).
  const { spawnSync } = process.getBuiltinModule('node:child_process');
  const r = spawnSync('nft', args, { input, encoding: 'utf8' });
  if (r.error) throw new KprError('KERNEL', `cannot run nft: ${r.error.message}`, { object: MASQ_TABLE });
  return { ok: r.status === 0, stdout: r.stdout, stderr: r.stderr };
}

function apply(script: string): void {
  if (!script) return;
  const r = nft(['-f', '-'], script);
  if (!r.ok) throw new KprError('KERNEL', `nft -f failed: ${r.stderr.trim()}`, { object: `table ${MASQ_TABLE}` });
}

function listElements(): MasqElement[] {
  const r = nft(['-j', 'list', 'table', ...MASQ_TABLE.split(' ')]);
  // No table: nothing to remove.
  return r.ok ? parseMasqElements(r.stdout) : [];
}

export function masqAdd(a: Attachment, podAddresses: readonly string[], clusterCIDRs: readonly string[]): Promise<void> {
  return locked(() => apply(renderMasqAdd(a, podAddresses, clusterCIDRs)));
}

/** Removes the elements of attachments that `drop` selects. */
export function masqRemoveWhere(drop: (a: Attachment) => boolean): Promise<void> {
  return locked(() => {
    const all = listElements();
    apply(renderMasqRemove(all, all.filter((e) => drop(e.attachment))));
  });
}

/** The pod addresses the table holds for an attachment (for CHECK). */
export function masqAddressesOf(a: Attachment): string[] {
  const alias = attachmentAlias(a);
  return listElements().filter((e) => attachmentAlias(e.attachment) === alias).map((e) => e.address);
}
