// `kpr inspect --stats` / `--rate` (the built binary) in the node namespace of a
// topology each mode has programmed with the flow-table cluster: the counters match
// the connections the test made through each backend. IPVS: test/ipvs-vm/explain.ts.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOWS, type Flow } from '../../lab/flow-table.ts';
import { observe } from '../../lab/observe.ts';
import { PODS } from '../../lab/topology.ts';
import { programmedNodeWithKpr } from '../../test/support/flows-fixture.ts';
import { frontendKey, type Frontend, type Inspection } from './model.ts';

const flow = (name: string): Flow => {
  const f = FLOWS.find((x) => x.name === `${name} (IPv4)`);
  if (!f) throw new Error(`no flow "${name}"`);
  return f;
};
const podOf = new Map<string, string>(Object.entries(PODS).map(([name, p]) => [p.ip4, name]));

/** Frontend -> its totals and its backends' totals by pod name. */
function totals(ins: Inspection, proto: string, address: string, port: number) {
  const view = ins.views.find((v) => v.family === 4);
  const f = view?.frontends.find((x) => frontendKey(x) === frontendKey({ protocol: proto as Frontend['protocol'], address, port }));
  if (!f) throw new Error(`no frontend ${proto} ${address}:${port}`);
  const backends = Object.fromEntries(f.backends.filter((b) => (b.stats?.total ?? 0) > 0).map((b) => [podOf.get(b.address) ?? b.address, b.stats]));
  return { stats: f.stats, rates: f.rates, backends };
}

describe.each(['iptables', 'nftables'] as const)('kpr inspect --stats in %s mode', (mode) => {
  const node = programmedNodeWithKpr(mode);
  const inspect = (args: string[]) => node.kpr(['inspect', '--family', '4', ...args]);

  it('counts each backend\'s connections, closed and held open, as the probes saw them', async () => {
    const web = await observe(node.topo, flow('pod to ClusterIP reaches every endpoint, source kept'), 15);
    const dns = await observe(node.topo, flow('pod to ClusterIP over UDP'), 6);
    const nodePort = await observe(node.topo, flow('NodePort from outside, Cluster policy: masqueraded'), 4);
    const client = node.topo.agent(node.topo.pods.client);
    const held = await Promise.all([1, 2, 3].map(() => client.call({ op: 'hold', host: '10.96.0.70', port: 80, timeoutMs: 3000 })));
    expect(held.every((h) => h.ok)).toBe(true);
    const heldBy = (held[0]?.reply ?? '').split(' ')[0] ?? '';

    const r = await inspect(['--stats', '-o', 'json']);
    expect(r.stderr).toBe('');
    const ins = JSON.parse(r.stdout) as Inspection;
    const counts = (o: { backends: Map<string, number> }) => Object.fromEntries([...o.backends].map(([pod, n]) => [pod, expect.objectContaining({ total: n })]));

    expect(totals(ins, 'tcp', '10.96.0.10', 80)).toMatchObject({ stats: { active: 0, total: 15 }, backends: counts(web) });
    // UDP entries stay in the table (30 s): each is an active connection.
    expect(totals(ins, 'udp', '10.96.0.10', 53)).toMatchObject({ stats: { active: 6, total: 6 }, backends: counts(dns) });
    expect(totals(ins, 'tcp', '*', 30080)).toMatchObject({ stats: { total: 4 }, backends: counts(nodePort) });
    expect(totals(ins, 'tcp', '10.96.0.70', 80)).toEqual({ stats: { active: 3, total: 3 }, backends: { [heldBy]: { active: 3, total: 3 } } });
    expect(totals(ins, 'tcp', '10.96.0.20', 80).stats).toEqual({ active: 0, total: 0 });

    const text = await inspect(['--stats', '--service', 'flows/sticky']);
    expect(text.stdout).toMatch(/^TCP {2}10\.96\.0\.70:80 .*flows\/sticky:p\n {5}active 3 {2}total 3\n/m);
    expect(text.stdout).not.toContain('10.96.0.10');
  });

  it('--rate: new connections per second over the interval', async () => {
    const running = inspect(['--rate', '10', '-o', 'json', '--frontend', '10.96.0.41:80']);
    await sleep(4000); // well after the first reading, well before the second
    const obs = await observe(node.topo, flow('internalTrafficPolicy Local: local endpoints only'), 8);
    expect([...obs.backends.keys()]).toEqual(['s2']);
    const r = await running;
    expect(r.stderr).toBe('');
    const ins = JSON.parse(r.stdout) as Inspection;
    expect(ins.views[0]?.frontends.map((f) => f.address)).toEqual(['10.96.0.41']);
    const rate = totals(ins, 'tcp', '10.96.0.41', 80).rates?.connections ?? 0;
    // The rate times the interval it was measured over is the 8 connections made (rates keep 2 decimals).
    expect(Math.abs(rate * (ins.rateSeconds ?? 0) - 8)).toBeLessThan(0.1);
  });
});
