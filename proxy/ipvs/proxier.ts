// The IPVS mode for one IP family: renders the desired IPVS table, kube-ipvs0
// addresses, ipsets and fixed iptables rules, diffs them against the kernel and applies
// the difference in an order that never leaves a reachable service empty:
// ipset members -> ipvsadm -R (services and new real servers first, removals last)
// -> bind new VIPs -> iptables rules -> unbind stale VIPs.
import { KprError, errorMessage } from '../../lib/errors.ts';
import { cidrContains, ipFamily, parseCIDR, parseIP, type CIDR, type IPFamily } from '../../lib/ip.ts';
import type { Logger } from '../../lib/log.ts';
import type { ProxyBackend, RulesConfig, SyncRequest, SyncResult } from '../backend.ts';
import { IPVS_SCHEDULERS, type IpvsScheduler } from '../config/config.ts';

export type { IpvsScheduler };
import { DUMMY_INTERFACE, IpvsKernel, type Runner } from './apply.ts';
import { diffIpvs, servicesNeedingCounts, tableAfter } from './diff.ts';
import { ownedIpsets, parseIpsetSave, planIpsetDestroy, planIpsets } from './ipset.ts';
import { formatRestore, parseIpvsadmConnections, parseIpvsadmSave } from './ipvsadm.ts';
import { STATE_DIR, formatNames, namesFile, removeNames, writeNames } from './names.ts';
import { renderIpvs } from './render.ts';
import { cleanupText, existingJumps, renderIptables, restoreText } from './rules.ts';
import { rsKey, type VirtualServer } from './types.ts';
import { ProxyError } from '../errors.ts';
import { supportsRandomFully } from '../iptables/features.ts';

/** Schedulers kube-proxy accepts for --ipvs-scheduler (wlc, lblc, lblcr are IPVS's own too). */

export interface IpvsProxierOptions {
  family: IPFamily;
  /** Default rr. */
  scheduler?: IpvsScheduler;
  /** arp_ignore=1 / arp_announce=2, so that VIPs on kube-ipvs0 are not announced. */
  strictARP?: boolean;
  /** IPVS connection timeouts in seconds (ipvsadm --set); 0 keeps the kernel's value. */
  tcpTimeoutSeconds?: number;
  tcpFinTimeoutSeconds?: number;
  udpTimeoutSeconds?: number;
  /** Virtual servers inside these CIDRs belong to others: never deleted. */
  excludeCIDRs?: readonly string[];
  /** The command runner (default lib/exec.ts run). */
  run?: Runner;
  /** The Service names file (names.ts); default in STATE_DIR. */
  namesFile?: string;
  /** Run every command inside this network namespace (tests); default: the current one. */
  netns?: string;
  log?: Logger;
}

export class IpvsProxier implements ProxyBackend {
  readonly mode = 'ipvs' as const;
  readonly family: IPFamily;
  private readonly scheduler: IpvsScheduler;
  private readonly opts: IpvsProxierOptions;
  private readonly excludeCIDRs: CIDR[];
  private readonly kernel: IpvsKernel;
  /** False until a sync succeeded: the first one also sets sysctls and timeouts. */
  private initialized = false;
  /** The iptables rules last written; undefined forces a rewrite (and the jump check). */
  private writtenRules: string | undefined;
  /**
   * The owned IPVS table and ipset members after the last successful sync: partial
   * syncs diff against them instead of reading the kernel (full syncs re-read it).
   */
  private applied: { table: VirtualServer[]; ipsets: Map<string, Set<string>> } | undefined;
  /** Whether MASQUERADE takes --random-fully (iptables 1.6.2 and later), once known. */
  private randomFully: boolean | undefined;
  private readonly namesPath: string;
  /** The names file's text as last written; undefined: rewrite it. */
  private writtenNames: string | undefined;
  /** Real servers currently kept at weight 0 while their connections drain (rsKey). */
  draining: readonly string[] = [];

  constructor(opts: IpvsProxierOptions) {
    this.family = opts.family;
    this.opts = opts;
    this.scheduler = opts.scheduler ?? 'rr';
    if (!IPVS_SCHEDULERS.includes(this.scheduler)) {
      throw new ProxyError('IPVS_CONFIG', `unknown IPVS scheduler "${String(this.scheduler)}" (one of ${IPVS_SCHEDULERS.join(', ')})`);
    }
    this.excludeCIDRs = (opts.excludeCIDRs ?? []).map((c) => {
      const cidr = parseCIDR(c);
      if (!cidr) throw new ProxyError('IPVS_CONFIG', `invalid --ipvs-exclude-cidrs entry "${c}"`);
      return cidr;
    });
    this.namesPath = opts.namesFile ?? namesFile(STATE_DIR, opts.family);
    this.kernel = new IpvsKernel(opts.family, { run: opts.run, wrap: opts.netns ? ['ip', 'netns', 'exec', opts.netns] : [] });
  }

  /** Virtual servers of this family outside excludeCIDRs: the ones this mode may delete. */
  private owned = (vs: VirtualServer): boolean => {
    const ip = parseIP(vs.address);
    return ip !== undefined && ip.family === this.family && !this.excludeCIDRs.some((c) => cidrContains(c, ip));
  };

  async sync(req: SyncRequest): Promise<SyncResult> {
    const full = req.changed === undefined || !this.initialized || this.writtenRules === undefined;
    try {
      const operations = await this.apply(req.config, req, full);
      this.initialized = true;
      return { full, operations };
    } catch (err) {
      this.writtenRules = undefined;
      this.applied = undefined;
      throw err instanceof KprError ? err : new ProxyError('IPVS_SYNC', errorMessage(err), { cause: err });
    }
  }

  private async apply(config: RulesConfig, req: SyncRequest, full: boolean): Promise<number> {
    const k = this.kernel;
    let ops = 0;
    const known = full ? undefined : this.applied;
    // Reading the table first also loads ip_vs, whose sysctls follow.
    const ipvsText = known ? undefined : await k.ipvsSave();
    if (!this.initialized) await this.prepareNode();
    let addrs = await k.localAddresses();
    if (addrs.dummy === undefined) {
      await k.ensureDummy();
      addrs = { ...addrs, dummy: [] };
    }
    const desired = renderIpvs({
      snapshot: req.snapshot,
      scheduler: this.scheduler,
      nodeIP: config.nodeIP,
      nodePortAddresses: config.nodePortIPs ?? addrs.others,
      otherLocalAddresses: new Set(addrs.others),
    });

    const owned = new Set(ownedIpsets(this.family).keys());
    const currentSets = known?.ipsets ?? parseIpsetSave(await k.ipsetSave(), owned);
    const ipsets = planIpsets(this.family, currentSets, desired.ipsets);
    await k.ipsetRestore(ipsets.text);
    ops += ipsets.operations;

    const current = known?.table ?? parseIpvsadmSave(ipvsText ?? '').filter((vs) => ipFamily(vs.address) === this.family);
    const counted = servicesNeedingCounts(current, desired.virtualServers);
    const connections = counted.length ? parseIpvsadmConnections(await k.ipvsList(counted)) : new Map<string, number>();
    const diff = diffIpvs(current, desired.virtualServers, { owned: this.owned, connections });
    await k.ipvsRestore(formatRestore(diff.ops));
    this.draining = diff.draining.map(({ vs, rs }) => rsKey(vs, rs));
    ops += diff.ops.length;

    const bound = new Set(addrs.dummy);
    const wanted = new Set(desired.boundAddresses);
    const bind = desired.boundAddresses.filter((a) => !bound.has(a));
    await k.changeAddresses('add', bind);
    ops += bind.length;

    // Detected once: the node's iptables does not change under a running proxier.
    this.randomFully ??= supportsRandomFully(await k.iptablesVersion().catch(() => ''));
    const rules = renderIptables(config, { lbNoNodeAccess: desired.lbNoNodeAccess, randomFully: this.randomFully });
    const rulesKey = JSON.stringify(rules);
    if (full || rulesKey !== this.writtenRules) {
      const [filter, nat] = await Promise.all([k.iptablesSave('filter'), k.iptablesSave('nat')]);
      await k.iptablesRestore(restoreText(rules, { filter: existingJumps(filter), nat: existingJumps(nat) }));
      this.writtenRules = rulesKey;
      ops += rules.filter.rules.length + rules.nat.rules.length;
    }

    const unbind = [...bound].filter((a) => !wanted.has(a)).sort();
    await k.changeAddresses('del', unbind);
    ops += unbind.length;

    const names = formatNames(desired.names);
    if (names !== this.writtenNames) {
      await writeNames(this.namesPath, names);
      this.writtenNames = names;
    }

    this.applied = { table: tableAfter(desired.virtualServers, diff.draining), ipsets: desired.ipsets };
    this.opts.log?.debug({ family: this.family, ops, draining: diff.draining.length }, 'ipvs sync applied');
    return ops;
  }

  /** Once per process: the sysctls IPVS NAT needs and the connection timeouts. */
  private async prepareNode(): Promise<void> {
    const settings: Record<string, number> = {
      // Connections of IPVS NAT must pass through conntrack for iptables masquerade.
      'net.ipv4.vs.conntrack': 1,
      'net.ipv4.vs.expire_nodest_conn': 1,
      'net.ipv4.vs.expire_quiescent_template': 1,
      [this.family === 4 ? 'net.ipv4.ip_forward' : 'net.ipv6.conf.all.forwarding']: 1,
    };
    if (this.opts.strictARP) {
      settings['net.ipv4.conf.all.arp_ignore'] = 1;
      settings['net.ipv4.conf.all.arp_announce'] = 2;
    }
    await this.kernel.sysctl(settings);
    const { tcpTimeoutSeconds: tcp = 0, tcpFinTimeoutSeconds: fin = 0, udpTimeoutSeconds: udp = 0 } = this.opts;
    if (tcp || fin || udp) await this.kernel.setTimeouts(tcp, fin, udp);
  }

  /**
   * Removes what the mode owns in this family: its iptables jumps and chains, its virtual
   * servers (outside excludeCIDRs), its kube-ipvs0 addresses (the interface too once
   * empty) and its ipsets. Every step runs even if an earlier one failed.
   */
  async cleanup(): Promise<void> {
    const k = this.kernel;
    const failures: string[] = [];
    const step = async (what: string, fn: () => Promise<void>) => {
      try { await fn(); } catch (err) { failures.push(`${what}: ${errorMessage(err)}`); }
    };
    await step('iptables', async () => {
      const [filter, nat] = await Promise.all([k.iptablesSave('filter'), k.iptablesSave('nat')]);
      await k.iptablesRestore(cleanupText({ filter, nat }));
    });
    await step('ipvs', async () => {
      const text = await k.ipvsSaveIfAvailable();
      if (text === undefined) return;
      const stale = parseIpvsadmSave(text).filter(this.owned);
      await k.ipvsRestore(formatRestore(stale.map((vs) => ({ op: 'delete-service' as const, vs }))));
    });
    await step(DUMMY_INTERFACE, async () => {
      const addrs = await k.localAddresses();
      if (addrs.dummy === undefined) return;
      await k.changeAddresses('del', addrs.dummy);
      if (!(await k.dummyHasAddresses())) await k.deleteDummy();
    });
    await step('ipset', async () => {
      const text = await k.ipsetSaveIfAvailable();
      if (text !== undefined) await k.ipsetRestore(planIpsetDestroy(parseIpsetSave(text, new Set(ownedIpsets(this.family).keys()))));
    });
    await step('names file', () => removeNames(this.namesPath));
    this.initialized = false;
    this.writtenRules = undefined;
    this.writtenNames = undefined;
    this.applied = undefined;
    if (failures.length) throw new ProxyError('IPVS_CLEANUP', failures.join('; '));
  }
}
