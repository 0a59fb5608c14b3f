// `kpr explain` (the built binary, in the node namespace) against real probes, for
// every row of the flow table, in iptables and nftables modes; IPVS runs the same in
// the VM (test/ipvs-vm/explain.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOWS, type Flow } from '../../lab/flow-table.ts';
import { sourceAddress } from '../../lab/observe.ts';
import { programmedNodeWithKpr } from '../../test/support/flows-fixture.ts';
import { explainAgainstProbes, originOf } from '../../test/support/explain-flows.ts';
import type { Explanation } from './explain.ts';

const hostPort = (ip: string, port: number) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

describe.each(['iptables', 'nftables'] as const)('kpr explain in %s mode', (mode) => {
  const node = programmedNodeWithKpr(mode);
  const run = (args: string[]) => node.kpr(['explain', ...args]);

  it('predicts what the probes see, for every row of the flow table', async () => {
    const explainFlow = async (f: Flow): Promise<Explanation> => {
      const from = originOf(f.from);
      const r = await run(['-o', 'json', f.proto, sourceAddress(f.from, f.family), hostPort(f.to.ip, f.to.port), ...(from === 'pod' ? [] : [`--from-${from}`])]);
      if (r.exitCode !== 0) throw new Error(r.stderr);
      return JSON.parse(r.stdout) as Explanation;
    };
    expect(await explainAgainstProbes(node.topo, FLOWS, mode, explainFlow)).toEqual([]);
  }, 240_000); // a kpr run and the probes for each of the table's rows

  it('answers in words, and names bad input', async () => {
    const text = await run(['tcp', '10.244.1.10', '10.96.0.10:80']);
    expect(text.stdout).toMatch(/^frontend: TCP 10\.96\.0\.10:80 {2}ClusterIP, flows\/web:p, policy Cluster$/m);
    expect(text.stdout).toMatch(/^outcome: DNAT to one of 3 backends/m);
    expect(text.stdout).toMatch(/^ {2}-> 10\.244\.1\.21:8080 +0\.3333 +source kept \(masquerade rule "src != 10\.244\.0\.0\/16" does not match\)$/m);
    const drop = await run(['tcp', '192.0.2.10', '198.51.100.20:80', '--from-external']);
    expect(drop.stdout).toMatch(/^outcome: DROP — source 192\.0\.2\.10 is not in loadBalancerSourceRanges \(192\.0\.2\.20\)$/m);
    const bad = await run(['tcp', '10.244.1.10', '10.96.0.10']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('invalid DST:PORT "10.96.0.10"');
  });
});
