// The proxy modes: which backend runs a family, and how every mode cleans up after
// itself, so that switching modes leaves nothing of the previous one behind.
import type { IPFamily } from '../lib/ip.ts';
import type { Logger } from '../lib/log.ts';
import type { ProxyBackend, ProxyMode } from './backend.ts';
import type { ProxyConfig } from './config.ts';
import { IptablesProxier } from './iptables/proxier.ts';
import { NftablesProxier } from './nftables/proxier.ts';
import { renderRuleset as renderNftables } from './nftables/ruleset.ts';
import { renderRuleset as renderIptables } from './iptables/ruleset.ts';
import type { ProxySnapshot } from './model/types.ts';
import type { RulesConfig } from './backend.ts';

export function createBackend(mode: ProxyMode, family: IPFamily, _cfg: ProxyConfig, log: Logger): ProxyBackend {
  switch (mode) {
    case 'iptables':
      return new IptablesProxier({ family, log });
    case 'nftables':
      return new NftablesProxier({ family, log });
    default:
      throw new Error(`proxy mode ${mode} is not available in this build`);
  }
}

/** Backends of every mode other than `keep`, for removing their leftovers. */
export function otherModes(keep: ProxyMode | undefined, family: IPFamily, cfg: ProxyConfig, log: Logger): ProxyBackend[] {
  const modes: ProxyMode[] = ['iptables', 'nftables'];
  return modes.filter((m) => m !== keep).map((m) => createBackend(m, family, cfg, log));
}

/** The full ruleset text a mode would program for a snapshot (no kernel involved). */
export function renderRuleset(mode: ProxyMode, snapshot: ProxySnapshot, config: RulesConfig): string {
  switch (mode) {
    case 'iptables':
      return renderIptables(snapshot, config);
    case 'nftables':
      return renderNftables(snapshot, config);
    default:
      throw new Error(`proxy mode ${mode} is not available in this build`);
  }
}
