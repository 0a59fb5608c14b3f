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

export interface ClusterView {
  /** This agent's Node (its last valid version), if any. */
  self: NetNode | undefined;
  /** Why this agent's Node cannot be used, if it cannot (or does not exist). */
  selfProblem: string | undefined;
  peers: NetNode[];
  /** Nodes whose current version is unusable. */
  invalid: Skipped[];
}

const KEPT = ' (its last valid version stays in effect)';

export class ClusterNodes {
  private readonly nodes = new Map<string, Entry>();
  /** This agent's Node's VTEP annotations as the API server last showed them. */
  ownAnnotations: PerFamily<string> = {};

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
    this.nodes.set(name, entry);
    let changed = JSON.stringify(before) !== JSON.stringify(entry);
    if (name === this.selfName) {
      const annotations = vtepAnnotationsOf(raw);
      changed ||= JSON.stringify(annotations) !== JSON.stringify(this.ownAnnotations);
      this.ownAnnotations = annotations;
    }
    return changed;
  }

  /** Forgets a Node; returns whether it was known. */
  delete(raw: unknown): boolean {
    return this.nodes.delete(nameOf(raw));
  }

  view(): ClusterView {
    const own = this.nodes.get(this.selfName);
    const peers: NetNode[] = [];
    const invalid: Skipped[] = [];
    for (const [name, e] of this.nodes) {
      if (e.problem) invalid.push({ node: name, reason: e.valid ? e.problem + KEPT : e.problem });
      if (e.valid && name !== this.selfName) peers.push(e.valid);
    }
    const selfProblem = !own ? 'no such Node (yet)' : !own.valid ? own.problem : undefined;
    return { self: own?.valid, selfProblem, peers, invalid };
  }

  /** Every usable Node's pod CIDRs (this one's too). */
  podCIDRs(): string[] {
    return [...this.nodes.values()].flatMap((e) => (e.valid ? Object.values(e.valid.podCIDRs) : []));
  }
}
