// `kpr explain` against the real probes: for every row of the flow table, what explain
// predicts (backend set, source kept or masqueraded, REJECT or DROP) is turned into the
// table's own Expectation and checked with real packets by lab/observe.ts. Shared by
// the kernel test (the built binary) and the IPVS VM test (the same core).
import { checkFlow } from '../../lab/observe.ts';
import { PODS, type Topology } from '../../lab/topology.ts';
import type { Expectation, Flow, Source } from '../../lab/flow-table.ts';
import type { ProxyMode } from '../../proxy/backend.ts';
import type { Explanation, Origin } from '../../proxy/explain/explain.ts';

export const originOf = (src: Source): Origin => (src === 'node' ? 'node' : src in PODS ? 'pod' : 'external');

/** The prediction in the flow table's terms; throws when it cannot be one (mixed masquerading). */
export function predicted(e: Explanation, family: 4 | 6): Expectation {
  switch (e.outcome) {
    case 'REJECT':
    case 'DROP':
      return { blocked: e.outcome };
    case 'local':
      // Nothing listens on the node's Service ports in the topology: the node refuses.
      return { blocked: 'REJECT' };
    case 'unrouted':
      return { blocked: 'UNROUTED' };
    case 'balanced': {
      const byIP = new Map<string, string>(Object.entries(PODS).map(([name, p]) => [family === 4 ? p.ip4 : p.ip6, name]));
      const backends = e.backends ?? [];
      const masq = new Set(backends.map((b) => b.masquerade));
      if (masq.size !== 1) throw new Error(`mixed masquerading among backends: ${JSON.stringify(backends)}`);
      return { reach: backends.map((b) => (byIP.get(b.address) ?? b.address) as never), masq: masq.has(true), ...(e.frontend?.affinitySeconds ? { sticky: true } : {}) };
    }
  }
}

/** Every flow: explain's prediction checked with real packets; failures as "name: problem". */
export async function explainAgainstProbes(
  topo: Topology, flows: readonly Flow[], mode: ProxyMode, explainFlow: (flow: Flow) => Promise<Explanation>, workers = 4,
): Promise<string[]> {
  const failures: string[] = [];
  const queue = [...flows];
  const worker = async () => {
    for (let f = queue.shift(); f; f = queue.shift()) {
      let want: Expectation;
      try {
        want = predicted(await explainFlow(f), f.family);
      } catch (err) {
        failures.push(`${f.name}: explain: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      const problem = await checkFlow(topo, { ...f, expect: want, modes: undefined }, mode);
      if (problem) failures.push(`${f.name}: explain said ${JSON.stringify(want)}, probes: ${problem}`);
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return failures.sort();
}
