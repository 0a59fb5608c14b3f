// One reconcile: the Nodes as last heard of -> the plan -> the kernel's kpr entries ->
// the fewest changes; then the node file, the masquerade table and the Node's VTEP MAC
// annotations. Nodes are recorded by the informer handlers; nothing here runs before the
// first complete list (the runner starts after it).
import { errorMessage } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { IPFamily } from '../lib/ip.ts';
import type { NetworkConfig } from './config.ts';
import { asProgrammed, diffNetwork, diffPeers, type NetworkOps } from './diff.ts';
import { applyOps, findUnderlay, readKernel, type Link } from './kernel.ts';
import { applyMasq, MASQ_TABLE, renderMasq, renderMasqElements } from './masq.ts';
import type { NetworkMetrics } from './metrics.ts';
import { writeNodeFile } from './node-file.ts';
import { ClusterNodes } from './cluster.ts';
import { VTEP_MAC_ANNOTATION, type PerFamily } from './nodes.ts';
import { DEVICE_NAMES, NetworkPlanner, type Skipped, type VxlanDevice } from './plan.ts';
import { releaseMemory } from '../lib/gc.ts';

export type ReconcileResult = 'clean' | 'partial' | 'failed';

/** Sets (a string) or removes (null) annotations on this agent's Node with a JSON merge patch. */
export type AnnotationPatcher = (annotations: Record<string, string | null>) => Promise<void>;

const familyName = (f: IPFamily) => (f === 4 ? 'IPv4' : 'IPv6');

export class Reconciler {
  private readonly nodes: ClusterNodes;
  /** What was last reported per Node (and family), so a report is logged once, not every reconcile. */
  private reported = new Map<string, string>();
  private reconciledOnce = false;
  /**
   * The plan as last programmed without error, with the links and time of the last kernel
   * read: a reconcile within syncPeriod of that read re-plans only the changed Nodes and
   * diffs their entries against it, as kube-proxy's partial syncs do; the first, periodic
   * and post-failure ones, and a change of this node's own Node, plan everything (the
   * first, periodic and post-failure ones against a kernel read).
   */
  private programmed: { planner: NetworkPlanner; links: Link[]; readAt: number } | undefined;
  /** The masquerade table as last applied: this node's pod CIDRs and the Nodes' pod CIDRs in its sets. */
  private masq: { self: string; cluster: Set<string> } | undefined;
  /** Element deletes left running by the last reconcile (see syncMasq); the next one waits for them. */
  private masqCleanup: Promise<void> | undefined;

  constructor(
    private readonly cfg: NetworkConfig,
    private readonly metrics: NetworkMetrics,
    private readonly patchAnnotations: AnnotationPatcher,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.nodes = new ClusterNodes(cfg.nodeName);
  }

  /** Records a Node; returns whether a reconcile is needed (see ClusterNodes.upsert). */
  upsert(raw: unknown): boolean {
    return this.nodes.upsert(raw);
  }

  delete(raw: unknown): boolean {
    return this.nodes.delete(raw);
  }

  /**
   * 'clean': everything programmed; 'partial': done, but some kernel changes failed (each
   * logged; e.g. a foreign route holds a peer's pod CIDR); 'failed': nothing could be
   * done (no own Node, no underlay). Failures are counted.
   */
  async reconcile(): Promise<ReconcileResult> {
    const end = this.metrics.reconcileDuration.startTimer();
    try {
      const result = await this.reconcileOnce();
      if (result !== 'clean') this.metrics.reconcileErrors.inc();
      return result;
    } catch (err) {
      this.metrics.reconcileErrors.inc();
      this.log.error({ err: errorMessage(err) }, 'reconcile failed');
      return 'failed';
    } finally {
      end();
    }
  }

  private async reconcileOnce(): Promise<ReconcileResult> {
    const started = Date.now();
    const changes = this.nodes.takeChanges();
    const previous = this.programmed && this.now() - this.programmed.readAt < this.cfg.syncPeriodMs ? this.programmed : undefined;
    // Until this one ends clean, the next reconcile reads the kernel.
    this.programmed = undefined;
    const { self, selfProblem } = this.nodes.own();
    if (!self) {
      this.log.error({ node: this.cfg.nodeName, reason: selfProblem }, 'this agent\'s Node cannot be used; nothing programmed');
      return 'failed';
    }
    let planner: NetworkPlanner;
    let ops: NetworkOps;
    let links: Link[];
    const full = !previous || changes.self;
    if (previous && !changes.self) {
      planner = previous.planner;
      links = previous.links;
      const { before, after } = planner.update(changes.peers);
      ops = diffPeers(planner.devices, before, after);
    } else {
      const state = previous ? { links: previous.links, current: asProgrammed(previous.planner.desired()) } : await readKernel();
      links = state.links;
      const underlay = findUnderlay(links, this.cfg.iface, [self.internalIPs[4], self.internalIPs[6]].filter((x): x is string => !!x));
      planner = new NetworkPlanner({ backend: this.cfg.backend, directRouting: this.cfg.directRouting, vni: this.cfg.vni, port: this.cfg.vxlanPort, self, underlay });
      planner.update(new Map(this.nodes.peers().map((p) => [p.name, p])));
      ops = diffNetwork(state.current, planner.desired(), DEVICE_NAMES);
    }
    const readAt = previous?.readAt ?? this.now();
    // Independent of each other (the MACs and the node file come from the plan): done together,
    // and all ended before a failure is thrown (the next reconcile must not overlap them).
    const [applied, ...rest] = await Promise.allSettled([
      applyOps(ops),
      this.syncMasq(self.podCIDRs, full ? undefined : changes.podCIDRs),
      full && this.writeNodeFile(self.podCIDRs, planner.podMTU),
      this.publishVtepMACs(planner.devices),
    ]);
    for (const r of [applied, ...rest]) if (r.status === 'rejected') throw r.reason;
    const errors = applied.status === 'fulfilled' ? applied.value : [];
    for (const e of errors) this.log.error({ err: e }, 'a kernel change failed; retrying later');
    if (errors.length === 0) this.programmed = { planner, links, readAt };

    const skipped = [...this.nodes.invalid(), ...[...planner.skipped.values()].flat()];
    this.report(skipped);
    this.updateMetrics(planner, skipped);
    const count = ops.ip.length + ops.bridge.length;
    // The first reconcile and every one that changed something are worth a line; quiet repeats are not.
    this.log[count || !this.reconciledOnce ? 'info' : 'debug']({ changes: count, peers: planner.peers, routes: planner.counts.route[4] + planner.counts.route[6], failed: errors.length, kernelRead: !previous, durationMs: Date.now() - started }, 'reconciled');
    this.reconciledOnce = true;
    // A full reconcile's garbage (the kernel read, the whole plan and diff) is returned at once.
    if (full) void releaseMemory(this.log, 'released the full reconcile\'s memory');
    return errors.length === 0 ? 'clean' : 'partial';
  }

  /**
   * The masquerade table: replaced whole when this node's pod CIDRs or the cluster sets
   * differ from what was last applied (`podCIDRs` undefined: compare everything), else
   * only the pod CIDRs that came or went are added or deleted. With --cluster-cidr, Node
   * changes never touch it. A failed element update falls back to replacing the table.
   */
  private async syncMasq(own: PerFamily<string>, podCIDRs: ReadonlyMap<string, boolean> | undefined): Promise<void> {
    await this.masqCleanup;
    this.masqCleanup = undefined;
    const self = JSON.stringify(own);
    const fixed = this.cfg.clusterCIDRs.length > 0;
    const applied = this.masq;
    this.masq = undefined;
    if (applied?.self === self) {
      if (fixed) { this.masq = applied; return; }
      if (podCIDRs) {
        const add = [...podCIDRs].filter(([c, held]) => held && !applied.cluster.has(c)).map(([c]) => c);
        const del = [...podCIDRs].filter(([c, held]) => !held && applied.cluster.has(c)).map(([c]) => c);
        try {
          if (add.length) await applyMasq(renderMasqElements(add, []));
          for (const c of add) applied.cluster.add(c);
          this.masq = applied;
          // A deleted element costs the kernel a grace period (12-20 ms, whatever the set's size), and a
          // pod CIDR that is gone staying in the set a moment longer is harmless: the reconcile does not
          // wait for it (the next one does, and replaces the table if it failed).
          if (del.length) {
            for (const c of del) applied.cluster.delete(c);
            this.masqCleanup = applyMasq(renderMasqElements([], del)).catch((err: unknown) => {
              this.masq = undefined;
              this.log.warn({ table: MASQ_TABLE, err: errorMessage(err) }, 'masquerade set update failed; replacing the table');
            });
          }
          return;
        } catch (err) {
          this.log.warn({ table: MASQ_TABLE, err: errorMessage(err) }, 'masquerade set update failed; replacing the table');
        }
      }
    }
    const nodeCIDRs = fixed ? [] : this.nodes.podCIDRs();
    const same = applied?.self === self && !podCIDRs && nodeCIDRs.length === applied.cluster.size && nodeCIDRs.every((c) => applied.cluster.has(c));
    if (!same) await applyMasq(renderMasq({ podCIDRs: own, clusterCIDRs: this.cfg.clusterCIDRs, nodeCIDRs }));
    this.masq = { self, cluster: new Set(nodeCIDRs) };
  }

  private async writeNodeFile(own: PerFamily<string>, mtu: number): Promise<void> {
    const podCIDRs = [own[4], own[6]].filter((x): x is string => !!x);
    if (await writeNodeFile(this.cfg.nodeFile, { podCIDRs, mtu, backend: this.cfg.backend })) {
      this.log.info({ file: this.cfg.nodeFile, podCIDRs, mtu }, 'wrote the node file');
    }
  }

  private async publishVtepMACs(devices: readonly VxlanDevice[]): Promise<void> {
    const patch: Record<string, string | null> = {};
    const macOf = (family: IPFamily) => devices.find((d) => d.families.includes(family))?.mac;
    for (const family of [4, 6] as const) {
      const mac = macOf(family);
      if (this.nodes.ownAnnotations[family] !== mac) patch[VTEP_MAC_ANNOTATION[family]] = mac ?? null;
    }
    if (Object.keys(patch).length === 0) return;
    await this.patchAnnotations(patch);
    for (const family of [4, 6] as const) {
      const mac = macOf(family);
      if (mac) this.nodes.ownAnnotations[family] = mac;
      else delete this.nodes.ownAnnotations[family];
    }
    this.log.info({ node: this.cfg.nodeName, annotations: patch }, 'published the VTEP MACs');
  }

  /** Logs each skipped Node (and family) once per reason, naming it. */
  private report(skipped: readonly Skipped[]): void {
    const now = new Map<string, string>();
    for (const s of skipped) {
      const key = `${s.node}/${s.family ?? ''}`;
      now.set(key, s.reason);
      if (this.reported.get(key) === s.reason) continue;
      const fields = { node: s.node, ...(s.family && { ipFamily: familyName(s.family) }), reason: s.reason };
      if (s.unreachable) this.log.warn(fields, 'peer not reachable with host-gw; no route to its pods');
      else this.log[s.pending ? 'info' : 'warn'](fields, 'Node skipped');
    }
    this.reported = now;
  }

  private updateMetrics(planner: NetworkPlanner, skipped: readonly Skipped[]): void {
    const m = this.metrics;
    m.peers.set(planner.peers);
    for (const family of [4, 6] as const) {
      for (const kind of ['route', 'neighbour', 'fdb'] as const) m.entries.set({ kind, ip_family: familyName(family) }, planner.counts[kind][family]);
    }
    m.unreachablePeers.reset();
    m.skippedNodes.reset();
    for (const s of skipped) {
      if (s.unreachable && s.family) m.unreachablePeers.set({ node: s.node, ip_family: familyName(s.family) }, 1);
      else m.skippedNodes.set({ node: s.node, reason: s.reason }, 1);
    }
    m.lastReconcile.setToCurrentTime();
  }
}
