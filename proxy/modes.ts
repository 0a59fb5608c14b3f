// The proxy modes: which backend runs a family, and how every mode cleans up after
// itself, so that switching modes leaves nothing of the previous one behind.
import { existsSync } from 'node:fs';
import { KprError } from '../lib/errors.ts';
import { commandExists, run } from '../lib/exec.ts';
import type { IPFamily } from '../lib/ip.ts';
import type { Logger } from '../lib/log.ts';
import type { ProxyBackend, ProxyMode } from './backend.ts';
import type { ProxyConfig } from './config/config.ts';
import { IptablesProxier } from './iptables/proxier.ts';
import { IpvsProxier } from './ipvs/proxier.ts';
import { renderRuleset as renderIpvs } from './ipvs/ruleset.ts';
import { NftablesProxier } from './nftables/proxier.ts';
import { renderRuleset as renderNftables } from './nftables/ruleset.ts';
import { renderRuleset as renderIptables } from './iptables/ruleset.ts';
import type { ProxySnapshot } from './model/types.ts';
import type { RulesConfig } from './backend.ts';
import { ProxyError } from './errors.ts';

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

const TOOLS: Record<ProxyMode, readonly string[]> = {
  iptables: ['iptables-restore', 'iptables-save', 'ip6tables-restore', 'ip6tables-save', 'conntrack'],
  nftables: ['nft', 'conntrack'],
  ipvs: ['ipvsadm', 'ipset', 'iptables-restore', 'iptables-save', 'ip', 'conntrack'],
};

/**
 * What a mode needs from the node, checked before anything is programmed, so that a
 * node that cannot run it fails at once with the reason instead of retrying syncs.
 */
export async function checkMode(mode: ProxyMode): Promise<void> {
  const missing: string[] = [];
  for (const tool of TOOLS[mode]) if (!(await commandExists(tool))) missing.push(tool);
  if (missing.length) throw new ProxyError('MISSING_TOOL', `proxy mode ${mode} needs ${missing.join(', ')}, not found on the PATH`);
  if (mode === 'ipvs' && !existsSync('/proc/net/ip_vs')) {
    await run('modprobe', ['ip_vs'], { allowFailure: true }).catch(() => undefined);
    if (!existsSync('/proc/net/ip_vs')) {
      throw new ProxyError('NO_IPVS', 'proxy mode ipvs: this kernel has no IP_VS (/proc/net/ip_vs is missing and modprobe ip_vs failed); use --proxy-mode nftables or iptables');
    }
  }
}
