// Sends real packets for each flow and compares what happened with the table.
import type { ProxyMode } from '../proxy/backend.ts';
import { EXTERNAL, NODE_IP, PODS, type Topology } from './topology.ts';
import { expectationFor, type Expectation, type Flow, type Source } from './flow-table.ts';

const PROBE_TIMEOUT_MS = 800;
/**
 * Long enough for a TCP SYN retransmission (1 s): the ICMPv6 error answering the very
 * first SYN of a flow is at times lost, and REJECT (or the default gateway's "no route")
 * must not pass for DROP because of it.
 */
const ANSWER_TIMEOUT_MS = 2500;

/** What a failed probe means; each outcome has exactly one signature. */
const OUTCOME: Record<string, Extract<Expectation, { blocked: string }>['blocked']> = {
  ECONNREFUSED: 'REJECT',
  timeout: 'DROP',
  // Only the topology's default gateway sends "network unreachable" (see GATEWAY_IP).
  ENETUNREACH: 'UNROUTED',
};

/** The address a source sends from. */
export function sourceAddress(src: Source, family: 4 | 6): string {
  const spec = src === 'node' ? NODE_IP : src in PODS ? PODS[src as keyof typeof PODS] : EXTERNAL[src as keyof typeof EXTERNAL];
  return family === 4 ? spec.ip4 : spec.ip6;
}

function namespaceOf(topo: Topology, src: Source) {
  if (src === 'node') return topo.node;
  if (src in topo.pods) return topo.pods[src as keyof typeof topo.pods];
  return topo.externals[src as keyof typeof topo.externals];
}

export interface Observation {
  /** How often each backend answered. */
  backends: Map<string, number>;
  /** Source addresses the backends saw. */
  peers: Set<string>;
  /** Set when a probe got no answer: REJECT, DROP (timeout) or another error. */
  failure?: string;
}

function probeOnce(topo: Topology, flow: Flow, timeoutMs: number) {
  return topo.agent(namespaceOf(topo, flow.from)).call({ op: 'probe', proto: flow.proto, host: flow.to.ip, port: flow.to.port, timeoutMs });
}

/** Sends `tries` probes of a flow and records who answered and what source they saw. */
export function observe(topo: Topology, flow: Flow, tries: number): Promise<Observation> {
  return tally(tries, () => probeOnce(topo, flow, PROBE_TIMEOUT_MS));
}

/** Runs `probe` `tries` times (each reply is "NAME PEER", as the traffic agent answers), stopping at the first failure. */
export async function tally(tries: number, probe: () => Promise<{ ok: boolean; error?: string; reply?: string }>): Promise<Observation> {
  const obs: Observation = { backends: new Map(), peers: new Set() };
  for (let i = 0; i < tries; i++) {
    const r = await probe();
    if (!r.ok) {
      obs.failure = `probe ${i + 1} failed: ${r.error}`;
      return obs;
    }
    const [backend = '', peer = ''] = (r.reply ?? '').split(' ');
    obs.backends.set(backend, (obs.backends.get(backend) ?? 0) + 1);
    obs.peers.add(peer);
  }
  return obs;
}

/** What one flow did, in words; "" when it matched the table. */
export async function checkFlow(topo: Topology, flow: Flow, mode: ProxyMode): Promise<string> {
  const want = expectationFor(flow, mode);

  if ('blocked' in want) {
    const r = await probeOnce(topo, flow, want.blocked === 'DROP' ? PROBE_TIMEOUT_MS : ANSWER_TIMEOUT_MS);
    const got = r.ok ? `answered "${r.reply}"` : (OUTCOME[r.error ?? ''] ?? r.error);
    return got === want.blocked ? '' : `expected ${want.blocked}, got ${got}`;
  }
  // Enough tries that missing a backend by chance is negligible: (2/3)^36 < 1e-6 for three.
  const tries = Math.max(8, 12 * want.reach.length);
  const obs = await observe(topo, flow, tries);
  if (obs.failure) return obs.failure;
  const seen = obs.backends;
  const client = sourceAddress(flow.from, flow.family);
  const problems: string[] = [];
  const backends = [...seen.keys()].sort();
  const stray = backends.filter((b) => !(want.reach as string[]).includes(b));
  if (stray.length) problems.push(`reached unexpected ${stray.join(',')}`);
  if (want.sticky) {
    if (backends.length !== 1) problems.push(`affinity broken: reached ${backends.join(',')}`);
  } else {
    const missing = want.reach.filter((b) => !seen.has(b));
    if (missing.length) problems.push(`never reached ${missing.join(',')} in ${tries} tries (got ${backends.join(',')})`);
  }
  const peers = obs.peers;
  const masqueraded = [...peers].some((p) => p !== client);
  const kept = [...peers].some((p) => p === client);
  if (want.masq && kept) problems.push(`not masqueraded (backend saw ${client})`);
  if (!want.masq && masqueraded) problems.push(`masqueraded (backend saw ${[...peers].join(',')}, client is ${client})`);
  return problems.join('; ');
}

/** Runs every flow (a few at a time) and returns the failures as "name: problem". */
export async function runFlows(topo: Topology, flows: readonly Flow[], mode: ProxyMode): Promise<string[]> {
  const failures: string[] = [];
  const queue = [...flows];
  const worker = async () => {
    for (let f = queue.shift(); f; f = queue.shift()) {
      const problem = await checkFlow(topo, f, mode);
      if (problem) failures.push(`${f.name}: ${problem}`);
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  return failures.sort();
}
