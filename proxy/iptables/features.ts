// What the node's iptables and kernel support beyond the basics, detected once per
// proxier, as upstream does: MASQUERADE --random-fully (iptables >= 1.6.2) and nfacct
// counters (nfnetlink_acct), which the rules count packets into for two metrics.
//
// nfacct objects are created with the `nfacct` command, through the same command
// prefix as iptables-restore: the objects belong to a network namespace, and Node cannot
// enter one, so an in-process netlink socket would reach the namespace kpr runs in, not
// the one the rules are written to (tests program namespaces with `ip netns exec`).
import { errorMessage } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';

/** Upstream's nfacct object names. */
export const CT_STATE_INVALID_DROPPED = 'ct_state_invalid_dropped_pkts';
export const LOCALHOST_NODEPORTS_ACCEPTED = 'localhost_nps_accepted_pkts';
export const NFACCT_COUNTERS = [CT_STATE_INVALID_DROPPED, LOCALHOST_NODEPORTS_ACCEPTED] as const;
export type NfacctCounter = (typeof NFACCT_COUNTERS)[number];

export interface IptablesFeatures {
  /** MASQUERADE takes --random-fully. */
  randomFully: boolean;
  /** nfacct objects that exist: rules count into these only. */
  nfacct: ReadonlySet<NfacctCounter>;
}

/** What `kpr render` assumes without a kernel: a current node (iptables >= 1.6.2, nfnetlink_acct). */
export const CURRENT_NODE: IptablesFeatures = { randomFully: true, nfacct: new Set(NFACCT_COUNTERS) };

/** `iptables --version` ("iptables v1.8.9 (nf_tables)") -> whether MASQUERADE has --random-fully (1.6.2 and later). */
export function supportsRandomFully(versionText: string): boolean {
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(versionText);
  if (!m) return false;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return major > 1 || (major === 1 && (minor > 6 || (minor === 6 && patch >= 2)));
}

/** `nfacct list` -> packets per object ("{ pkts = 00000000000000000012, bytes = ... } = name;"). */
export function parseNfacctList(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^\{\s*pkts\s*=\s*(\d+),\s*bytes\s*=\s*\d+\s*\}\s*=\s*(\S+);$/.exec(line.trim());
    if (m) out.set(m[2] as string, Number(m[1]));
  }
  return out;
}

/** The commands detection needs (IptablesTables provides them, prefixed for a namespace). */
export interface FeatureProbes {
  version(): Promise<string>;
  nfacctList(): Promise<string>;
  nfacctAdd(name: string): Promise<void>;
}

export async function detectFeatures(probes: FeatureProbes, log?: Logger): Promise<IptablesFeatures> {
  let randomFully = false;
  try {
    randomFully = supportsRandomFully(await probes.version());
  } catch (err) {
    log?.info({ err: errorMessage(err) }, 'cannot read the iptables version; masquerading without --random-fully');
  }
  if (!randomFully) log?.info('iptables has no MASQUERADE --random-fully (before 1.6.2); masquerading without it');
  const nfacct = new Set<NfacctCounter>();
  let existing: Map<string, number>;
  try {
    existing = parseNfacctList(await probes.nfacctList());
  } catch (err) {
    log?.info({ err: errorMessage(err) }, "nfacct is not available (the nfacct tool or the kernel's nfnetlink_acct); nfacct based metrics won't be available");
    return { randomFully, nfacct };
  }
  for (const name of NFACCT_COUNTERS) {
    if (existing.has(name)) {
      nfacct.add(name);
      continue;
    }
    try {
      await probes.nfacctAdd(name);
      nfacct.add(name);
    } catch (err) {
      // The other family's proxier may have created it just now.
      if (parseNfacctList(await probes.nfacctList().catch(() => '')).has(name)) nfacct.add(name);
      else log?.info({ counter: name, err: errorMessage(err) }, "cannot create the nfacct counter; the corresponding metric won't be available");
    }
  }
  return { randomFully, nfacct };
}
