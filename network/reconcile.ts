// One reconcile: the Nodes as last heard of -> the plan -> the kernel's kpr entries ->
// the fewest changes; then the node file, the masquerade table and the Node's VTEP MAC
// annotations. Nodes are recorded by the informer handlers; nothing here runs before the
// first complete list (the runner starts after it).
import { errorMessage } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { IPFamily } from '../lib/ip.ts';
import type { NetworkConfig } from './config.ts';
import { asProgrammed, diffNetwork, type CurrentNetwork } from './diff.ts';
import { applyOps, findUnderlay, readKernel, type Link } from './kernel.ts';
import { applyMasq, renderMasq } from './masq.ts';
import type { NetworkMetrics } from './metrics.ts';
import { writeNodeFile } from './node-file.ts';
import { ClusterNodes } from './cluster.ts';
import { VTEP_MAC_ANNOTATION } from './nodes.ts';
import { DEVICE_NAMES, planNetwork, type DesiredNetwork, type Skipped } from './plan.ts';

export type ReconcileResult = 'clean' | 'partial' | 'failed';

/** Sets (a string) or removes (null) annotations on this agent's Node with a JSON merge patch. */
export type AnnotationPatcher = (annotations: Record<string, string | null>) => Promise<void>;

const familyName = (f: IPFamily) => (f === 4 ? 'IPv4' : 'IPv6');

export class Reconciler {
  private readonly nodes: ClusterNodes;
  /** What was last reported per Node (and family), so a report is logged once, not every reconcile. */
  private reported = new Map<string, string>();
  private lastMasq: string | undefined;
  private reconciledOnce = false;
  /**
   * The kernel's kpr entries after the last clean reconcile, and the links and time of the
   * last kernel read: a reconcile within syncPeriod of that read diffs against this record,
   * as kube-proxy's partial syncs do; the first, periodic and post-failure ones read the kernel.
   */
  private programmed: { current: CurrentNetwork; links: Link[]; readAt: number } | undefined;

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
    const { self, selfProblem, peers, invalid } = this.nodes.view();
    if (!self) {
      this.log.error({ node: this.cfg.nodeName, reason: selfProblem }, 'this agent\'s Node cannot be used; nothing programmed');
      return 'failed';
    }
    const recorded = this.programmed && this.now() - this.programmed.readAt < this.cfg.syncPeriodMs ? this.programmed : undefined;
    this.programmed = undefined;
    const { links, current } = recorded ?? await readKernel();
    const readAt = recorded?.readAt ?? this.now();
    const underlay = findUnderlay(links, this.cfg.iface, [self.internalIPs[4], self.internalIPs[6]].filter((x): x is string => !!x));
    const desired = planNetwork({
      backend: this.cfg.backend, directRouting: this.cfg.directRouting, vni: this.cfg.vni, port: this.cfg.vxlanPort, self, peers, underlay,
    });
    const ops = diffNetwork(current, desired, DEVICE_NAMES);
    const cluster = this.cfg.clusterCIDRs.length ? this.cfg.clusterCIDRs : this.nodes.podCIDRs();
    const masq = renderMasq({ podCIDRs: self.podCIDRs, clusterCIDRs: cluster });
    const [errors] = await Promise.all([applyOps(ops), masq !== this.lastMasq ? applyMasq(masq) : undefined]);
    this.lastMasq = masq;
    for (const e of errors) this.log.error({ err: e }, 'a kernel change failed; retrying later');
    if (errors.length === 0) this.programmed = { current: asProgrammed(desired), links, readAt };

    const podCIDRs = [self.podCIDRs[4], self.podCIDRs[6]].filter((x): x is string => !!x);
    if (await writeNodeFile(this.cfg.nodeFile, { podCIDRs, mtu: desired.podMTU, backend: this.cfg.backend })) {
      this.log.info({ file: this.cfg.nodeFile, podCIDRs, mtu: desired.podMTU }, 'wrote the node file');
    }
    await this.publishVtepMACs(desired);

    this.report([...invalid, ...desired.skipped]);
    this.updateMetrics(desired, [...invalid, ...desired.skipped]);
    const changes = ops.ip.length + ops.bridge.length;
    // The first reconcile and every one that changed something are worth a line; quiet repeats are not.
    this.log[changes || !this.reconciledOnce ? 'info' : 'debug']({ changes, peers: desired.peers, routes: desired.routes.length, failed: errors.length, kernelRead: !recorded, durationMs: Date.now() - started }, 'reconciled');
    this.reconciledOnce = true;
    return errors.length === 0 ? 'clean' : 'partial';
  }

  private async publishVtepMACs(desired: DesiredNetwork): Promise<void> {
    const patch: Record<string, string | null> = {};
    const macOf = (family: IPFamily) => desired.devices.find((d) => d.families.includes(family))?.mac;
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

  private updateMetrics(desired: DesiredNetwork, skipped: readonly Skipped[]): void {
    const m = this.metrics;
    m.peers.set(desired.peers);
    m.entries.reset();
    for (const family of [4, 6] as const) {
      const ipf = familyName(family);
      m.entries.set({ kind: 'route', ip_family: ipf }, desired.routes.filter((r) => r.family === family).length);
      // Neighbours by the family of their address, FDB entries by the family of their remote (the underlay).
      const inFamily = (ip: string) => ip.includes(':') === (family === 6);
      m.entries.set({ kind: 'neighbour', ip_family: ipf }, desired.neighbours.filter((n) => inFamily(n.ip)).length);
      m.entries.set({ kind: 'fdb', ip_family: ipf }, desired.fdb.filter((f) => inFamily(f.dst)).length);
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
