// The multi-node flow table: for each source, destination and protocol across nodes,
// which pods (or the outside host) must answer and what source address they must see:
// the client's own (kept), or an address of a given node (masqueraded or sent by the node
// itself), or nothing (DROP). Written in roles (first node, second, last = behind the
// router), so it holds for any number of nodes; every backend and proxy mode runs it.
import type { Agent } from './agent/client.ts';
import { labServices, OUTSIDE_TCP, POD_TCP, POD_UDP, roles, type MultiNodeCluster } from './multinode.ts';
import { OUTSIDE4, OUTSIDE6 } from './network-cluster.ts';
import { tally, type Observation } from './observe.ts';

type Role = 'first' | 'second' | 'last';

export type MultiSource = { pod: Role } | { node: Role } | 'outside';
export type MultiTarget =
  | { pod: Role; proto: 'tcp' | 'udp' }
  | { service: string; proto: 'tcp' | 'udp' }
  | { nodePort: number; node: Role }
  | { outside: true };

export type MultiExpectation =
  /** Every listed pod answers over repeated probes, no other; the source seen is the client's own, or an address of that node. */
  | { reach: (Role | 'others' | 'outside')[]; source: 'kept' | { node: Role } }
  | { blocked: 'DROP' };

export interface MultiRow {
  name: string;
  from: MultiSource;
  to: MultiTarget;
  expect: MultiExpectation;
}

export const MULTI_ROWS: MultiRow[] = [
  { name: 'pod to pod on another node, TCP', from: { pod: 'first' }, to: { pod: 'second', proto: 'tcp' }, expect: { reach: ['second'], source: 'kept' } },
  { name: 'pod to pod on another node, UDP', from: { pod: 'first' }, to: { pod: 'second', proto: 'udp' }, expect: { reach: ['second'], source: 'kept' } },
  { name: 'pod to pod across the routed hop, TCP', from: { pod: 'first' }, to: { pod: 'last', proto: 'tcp' }, expect: { reach: ['last'], source: 'kept' } },
  { name: 'pod to pod across the routed hop, UDP', from: { pod: 'last' }, to: { pod: 'second', proto: 'udp' }, expect: { reach: ['second'], source: 'kept' } },
  { name: 'pod behind the router to pod, TCP', from: { pod: 'last' }, to: { pod: 'first', proto: 'tcp' }, expect: { reach: ['first'], source: 'kept' } },
  { name: 'node to a remote pod', from: { node: 'first' }, to: { pod: 'last', proto: 'tcp' }, expect: { reach: ['last'], source: { node: 'first' } } },
  { name: 'pod to ClusterIP whose endpoints are all on other nodes, TCP', from: { pod: 'first' }, to: { service: 'spread', proto: 'tcp' }, expect: { reach: ['others'], source: 'kept' } },
  { name: 'pod to ClusterIP whose endpoints are all on other nodes, UDP', from: { pod: 'first' }, to: { service: 'spread', proto: 'udp' }, expect: { reach: ['others'], source: 'kept' } },
  { name: 'NodePort on a node without endpoints reaches a remote pod, SNAT', from: 'outside', to: { nodePort: 30080, node: 'first' }, expect: { reach: ['last'], source: { node: 'first' } } },
  { name: 'NodePort, externalTrafficPolicy Local, local endpoint: source kept', from: 'outside', to: { nodePort: 30081, node: 'first' }, expect: { reach: ['first'], source: 'kept' } },
  { name: 'NodePort, externalTrafficPolicy Local, no local endpoint: dropped', from: 'outside', to: { nodePort: 30081, node: 'second' }, expect: { blocked: 'DROP' } },
  { name: 'pod to outside is masqueraded to its node', from: { pod: 'first' }, to: { outside: true }, expect: { reach: ['outside'], source: { node: 'first' } } },
];

export interface MultiFlow extends MultiRow {
  family: 4 | 6;
}

export const MULTI_FLOWS: MultiFlow[] = MULTI_ROWS.flatMap((row) => ([4, 6] as const).map((family) => ({ ...row, name: `${row.name} (IPv${family})`, family })));

/** A flow bound to a cluster: who sends, to which address and port, and what must answer. */
export interface Bound {
  agent: Agent;
  client: string;
  proto: 'tcp' | 'udp';
  host: string;
  port: number;
  /** Answer names that must all be seen (and no other). */
  reach: string[];
  /** The source the servers must see: one address, or any of a node's addresses. */
  source: 'kept' | { node: string };
}

export function bindFlow(c: MultiNodeCluster, f: MultiFlow): Bound | { blocked: 'DROP'; agent: Agent; proto: 'tcp'; host: string; port: number } {
  const r = roles(c.nodeNames);
  const ip = (x: { ip4: string; ip6: string }) => (f.family === 4 ? x.ip4 : x.ip6);
  const nodeIP = (role: Role) => (f.family === 4 ? c.net.node(r[role]).spec.v4 : c.net.node(r[role]).spec.v6).split('/')[0] as string;
  const agent = f.from === 'outside' ? c.net.outsideAgent : 'pod' in f.from ? c.pod(r[f.from.pod]).agent : c.nodeAgent(r[f.from.node]);
  const client = f.from === 'outside' ? (f.family === 4 ? OUTSIDE4 : OUTSIDE6) : 'pod' in f.from ? ip(c.pod(r[f.from.pod])) : '';
  const t = f.to;
  let proto: 'tcp' | 'udp' = 'tcp';
  let host: string;
  let port = POD_TCP;
  if ('pod' in t) {
    proto = t.proto;
    host = ip(c.pod(r[t.pod]));
    port = t.proto === 'tcp' ? POD_TCP : POD_UDP;
  } else if ('service' in t) {
    const svc = labServices(c.nodeNames).find((s) => s.name === t.service);
    if (!svc) throw new Error(`flow ${f.name}: no Service ${t.service}`);
    proto = t.proto;
    host = f.family === 4 ? svc.clusterIP : svc.clusterIP6;
    port = t.proto === 'tcp' ? 80 : 53;
  } else if ('nodePort' in t) {
    host = nodeIP(t.node);
    port = t.nodePort;
  } else {
    host = f.family === 4 ? OUTSIDE4 : OUTSIDE6;
    port = OUTSIDE_TCP;
  }
  if ('blocked' in f.expect) return { blocked: 'DROP', agent, proto: 'tcp', host, port };
  const reach = f.expect.reach.flatMap((x) => {
    if (x === 'outside') return ['outside'];
    if (x === 'others') return c.nodeNames.filter((n) => n !== r.first).map((n) => c.pod(n).name);
    return [c.pod(r[x]).name];
  });
  const src = f.expect.source;
  return { agent, client, proto, host, port, reach, source: src === 'kept' ? 'kept' : { node: r[src.node] } };
}

const PROBE_TIMEOUT_MS = 1500;

/** Who answered `tries` probes from `agent` (the pods' names in `backends`), and what source they saw. */
export function observeMulti(agent: Agent, proto: 'tcp' | 'udp', host: string, port: number, tries: number): Promise<Observation> {
  return tally(tries, () => agent.call({ op: 'probe', proto, host, port, timeoutMs: PROBE_TIMEOUT_MS }));
}

/** What one flow did, in words; "" when it matched the table. */
export async function checkMultiFlow(c: MultiNodeCluster, f: MultiFlow): Promise<string> {
  const b = bindFlow(c, f);
  if ('blocked' in b) {
    const r = await b.agent.call({ op: 'probe', proto: b.proto, host: b.host, port: b.port, timeoutMs: PROBE_TIMEOUT_MS });
    return !r.ok && r.error === 'timeout' ? '' : `expected DROP, got ${r.ok ? `answer "${r.reply}"` : r.error}`;
  }
  // (1/2)^24 and (2/3)^36 make missing a backend by chance negligible.
  const tries = Math.max(6, 12 * b.reach.length);
  const obs = await observeMulti(b.agent, b.proto, b.host, b.port, tries);
  if (obs.failure) return obs.failure;
  const problems: string[] = [];
  const seen = [...obs.backends.keys()].sort();
  const stray = seen.filter((n) => !b.reach.includes(n));
  if (stray.length) problems.push(`reached unexpected ${stray.join(',')}`);
  const missing = b.reach.filter((n) => !obs.backends.has(n));
  if (missing.length) problems.push(`never reached ${missing.join(',')} in ${tries} tries (got ${seen.join(',')})`);
  const peers = [...obs.peers];
  if (b.source === 'kept') {
    if (peers.some((p) => p !== b.client)) problems.push(`source not kept: seen ${peers.join(',')}, client is ${b.client}`);
  } else {
    const own = await c.nodeAddresses(b.source.node);
    const foreign = peers.filter((p) => !own.includes(p));
    if (foreign.length) problems.push(`expected an address of node ${b.source.node}, seen ${foreign.join(',')}`);
  }
  return problems.join('; ');
}

/** Runs the flows (a few at a time) and returns the failures as "name: problem". */
export async function runMultiFlows(c: MultiNodeCluster, flows: readonly MultiFlow[]): Promise<string[]> {
  const failures: string[] = [];
  const queue = [...flows];
  const worker = async () => {
    for (let f = queue.shift(); f; f = queue.shift()) {
      const problem = await checkMultiFlow(c, f);
      if (problem) failures.push(`${f.name}: ${problem}`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return failures.sort();
}
