// The Nodes as last heard of, boiled down to what the pod network uses. A Node that
// turns unusable (an InternalIP gone in an update, say) keeps its last valid version in
// effect, as kpr proxy keeps an invalid Service's, so a bad update never cuts its pods off;
// it is reported by name either way.
import { nameOf, parseNode, vtepAnnotationsOf, type NetNode, type PerFamily } from './nodes.ts';
import type { Skipped } from './plan.ts';

interface Entry {
  /** The last valid version. */
  valid?: NetNode;
  /** Why the current version cannot be used. */
  problem?: string;
}

const KEPT = ' (its last valid version stays in effect)';

/** What changed since the last takeChanges(): what a reconcile after a Node change needs, no more. */
export interface ClusterChanges {
  /** This agent's Node (its valid version or annotations) changed. */
  self: boolean;
  /** Changed peers: their valid version now (undefined: gone, or never valid). */
  peers: Map<string, NetNode | undefined>;
  /** Pod CIDRs that some usable Node now holds and none did (true), or none holds any more (false). */
  podCIDRs: Map<string, boolean>;
}

export class ClusterNodes {
  private readonly nodes = new Map<string, Entry>();
  /** This agent's Node's VTEP annotations as the API server last showed them. */
  ownAnnotations: PerFamily<string> = {};
  /** Nodes whose current version is unusable, with why. */
  private readonly problems = new Map<string, string>();
  /** How many usable Nodes hold each pod CIDR. */
  private readonly podCIDRHolders = new Map<string, number>();
  private changes: ClusterChanges = { self: false, peers: new Map(), podCIDRs: new Map() };

  constructor(private readonly selfName: string) {}

  /**
   * Records a Node; returns whether anything the network depends on changed (pod CIDRs,
   * InternalIPs, VTEP MACs, or why it is unusable), so that the status updates of
   * thousands of Nodes do not each cost a reconcile.
   */
  upsert(raw: unknown): boolean {
    const parsed = parseNode(raw);
    const name = parsed.ok ? parsed.node.name : parsed.name;
    const before = this.nodes.get(name);
    const entry: Entry = parsed.ok ? { valid: parsed.node } : { ...(before?.valid && { valid: before.valid }), problem: parsed.reason };
    let changed = JSON.stringify(before) !== JSON.stringify(entry);
    if (changed) this.record(name, before, entry);
    if (name === this.selfName) {
      const annotations = vtepAnnotationsOf(raw);
      const annotated = JSON.stringify(annotations) !== JSON.stringify(this.ownAnnotations);
      this.ownAnnotations = annotations;
      if (annotated) this.changes.self = true;
      changed ||= annotated;
    }
    return changed;
  }

  /** Forgets a Node; returns whether it was known. */
  delete(raw: unknown): boolean {
    const name = nameOf(raw);
    const before = this.nodes.get(name);
    if (!before) return false;
    this.record(name, before, undefined);
    return true;
  }

  /** What changed since the last call. */
  takeChanges(): ClusterChanges {
    const out = this.changes;
    this.changes = { self: false, peers: new Map(), podCIDRs: new Map() };
    return out;
  }

  /** Nodes whose current version is unusable. */
  invalid(): Skipped[] {
    return [...this.problems].map(([node, problem]) => ({ node, reason: this.nodes.get(node)?.valid ? problem + KEPT : problem }));
  }

  private record(name: string, before: Entry | undefined, entry: Entry | undefined): void {
    if (entry) this.nodes.set(name, entry);
    else this.nodes.delete(name);
    if (entry?.problem) this.problems.set(name, entry.problem);
    else this.problems.delete(name);
    if (name === this.selfName) this.changes.self = true;
    else this.changes.peers.set(name, entry?.valid);
    for (const cidr of Object.values(before?.valid?.podCIDRs ?? {})) {
      const n = (this.podCIDRHolders.get(cidr) ?? 0) - 1;
      if (n > 0) this.podCIDRHolders.set(cidr, n);
      else { this.podCIDRHolders.delete(cidr); this.changes.podCIDRs.set(cidr, false); }
    }
    for (const cidr of Object.values(entry?.valid?.podCIDRs ?? {})) {
      const n = (this.podCIDRHolders.get(cidr) ?? 0) + 1;
      this.podCIDRHolders.set(cidr, n);
      if (n === 1) this.changes.podCIDRs.set(cidr, true);
    }
  }

  /** This agent's Node (its last valid version), or why it cannot be used. */
  own(): { self: NetNode | undefined; selfProblem: string | undefined } {
    const own = this.nodes.get(this.selfName);
    return { self: own?.valid, selfProblem: !own ? 'no such Node (yet)' : !own.valid ? own.problem : undefined };
  }

  /** The other Nodes' last valid versions. */
  peers(): NetNode[] {
    const peers: NetNode[] = [];
    for (const [name, e] of this.nodes) if (e.valid && name !== this.selfName) peers.push(e.valid);
    return peers;
  }

  /** Every usable Node's pod CIDRs (this one's too). */
  podCIDRs(): string[] {
    return [...this.podCIDRHolders.keys()];
  }
}
