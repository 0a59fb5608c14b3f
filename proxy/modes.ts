// The proxy modes: which backend runs a family, and how every mode cleans up after
// itself, so that switching modes leaves nothing of the previous one behind.
import type { IPFamily } from '../lib/ip.ts';
import type { Logger } from '../lib/log.ts';
import type { ProxyBackend, ProxyMode } from './backend.ts';
import type { ProxyConfig } from './config.ts';
import { IptablesProxier } from './iptables/proxier.ts';
import { IpvsProxier } from './ipvs/proxier.ts';
import { renderRuleset as renderIpvs } from './ipvs/ruleset.ts';
import { NftablesProxier } from './nftables/proxier.ts';
import { renderRuleset as renderNftables } from './nftables/ruleset.ts';
import { renderRuleset as renderIptables } from './iptables/ruleset.ts';
import type { ProxySnapshot } from './model/types.ts';
import type { RulesConfig } from './backend.ts';

export function createBackend(mode: ProxyMode, family: IPFamily, cfg: ProxyConfig, log: Logger): ProxyBackend {
  switch (mode) {
    case 'iptables':
      return new IptablesProxier({ family, log });
    case 'nftables':
      return new NftablesProxier({ family, log });
    case 'ipvs':
      return new IpvsProxier({
        family,
        log,
        scheduler: cfg.ipvs.scheduler,
        strictARP: cfg.ipvs.strictARP,
        excludeCIDRs: cfg.ipvs.excludeCIDRs,
        tcpTimeoutSeconds: cfg.ipvs.tcpTimeoutMs / 1000,
        tcpFinTimeoutSeconds: cfg.ipvs.tcpFinTimeoutMs / 1000,
        udpTimeoutSeconds: cfg.ipvs.udpTimeoutMs / 1000,
      });
  }
}

/** Backends of every mode other than `keep`, for removing their leftovers. */
export function otherModes(keep: ProxyMode | undefined, family: IPFamily, cfg: ProxyConfig, log: Logger): ProxyBackend[] {
  const modes: ProxyMode[] = ['iptables', 'nftables', 'ipvs'];
  return modes.filter((m) => m !== keep).map((m) => createBackend(m, family, cfg, log));
}

/** The full ruleset text a mode would program for a snapshot (no kernel involved). */
export function renderRuleset(mode: ProxyMode, snapshot: ProxySnapshot, config: RulesConfig, cfg: ProxyConfig): string {
  switch (mode) {
    case 'iptables':
      return renderIptables(snapshot, config);
    case 'nftables':
      return renderNftables(snapshot, config);
    case 'ipvs':
      return renderIpvs(snapshot, config, cfg.ipvs.scheduler);
  }
}
