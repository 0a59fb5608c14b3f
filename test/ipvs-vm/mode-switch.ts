// Switching modes on a real kernel: iptables -> ipvs -> nftables -> iptables, each
// start cleaning up the other modes first (as the daemon does), traffic checked in
// every mode, and the kernel state at the end equal to that after the first
// iptables sync: no leftovers of any mode.
import type { IPFamily } from '../../lib/ip.ts';
import type { ProxyBackend, ProxyMode } from '../../proxy/backend.ts';
import { iptablesTables } from '../../proxy/iptables/apply.ts';
import { IptablesProxier } from '../../proxy/iptables/proxier.ts';
import { IpvsProxier } from '../../proxy/ipvs/proxier.ts';
import { NftablesProxier } from '../../proxy/nftables/proxier.ts';
import { newState, program } from '../support/flows-fixture.ts';
import { checkFlow } from '../../lab/observe.ts';
import { FLOWS, OBJECTS } from '../../lab/flow-table.ts';
import { Topology } from '../../lab/topology.ts';
import { assert, test } from './runner.ts';

function backend(mode: ProxyMode, family: IPFamily, ns: string): ProxyBackend {
  const wrap = ['ip', 'netns', 'exec', ns];
  switch (mode) {
    case 'iptables': return new IptablesProxier({ family, tables: iptablesTables(family, wrap) });
    case 'nftables': return new NftablesProxier({ family, command: [...wrap, 'nft'] });
    case 'ipvs': return new IpvsProxier({ family, netns: ns });
  }
}

/** Everything a mode could leave in the node namespace, without counters and timestamps. */
async function kernelState(topo: Topology): Promise<string> {
  const out = async (cmd: string, args: string[]) => (await topo.node.exec(cmd, args, { allowFailure: true })).stdout;
  const strip = (s: string) => s.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '').replace(/packets \d+ bytes \d+/g, '')).join('\n');
  return [
    strip(await out('iptables-save', [])),
    strip(await out('ip6tables-save', [])),
    strip(await out('nft', ['list', 'ruleset'])),
    `ipvs:\n${await out('ipvsadm', ['-S', '-n'])}`,
    `ipsets:\n${await out('ipset', ['list', '-n'])}`,
    `kube-ipvs0: ${(await topo.node.exec('ip', ['link', 'show', 'kube-ipvs0'], { allowFailure: true })).exitCode === 0}`,
  ].join('\n');
}

const ROWS = ['pod to ClusterIP reaches every endpoint, source kept', 'NodePort from outside, Cluster policy: masqueraded', 'Service without endpoints is rejected (TCP)'];

test('mode switching iptables -> ipvs -> nftables -> iptables leaves nothing behind', async () => {
  const topo = await Topology.create();
  try {
    await topo.startServers({ tcp: [8080], udp: [5353] });
    const modes: ProxyMode[] = ['iptables', 'ipvs', 'nftables', 'iptables'];
    const all: ProxyMode[] = ['iptables', 'ipvs', 'nftables'];
    let first = '';
    for (const [i, mode] of modes.entries()) {
      for (const family of [4, 6] as const) {
        for (const other of all.filter((m) => m !== mode)) await backend(other, family, topo.node.name).cleanup();
      }
      await program(newState(), [4, 6].map((f) => backend(mode, f as IPFamily, topo.node.name)), OBJECTS, true);
      const flows = FLOWS.filter((f) => ROWS.some((r) => f.name.startsWith(r)));
      const problems = (await Promise.all(flows.map(async (f) => ({ f, p: await checkFlow(topo, f, mode) })))).filter((x) => x.p);
      assert(problems.length === 0, `${mode}: ${problems.map((x) => `${x.f.name}: ${x.p}`).join('; ')}`);
      const state = await kernelState(topo);
      if (i === 0) first = state;
      if (i === modes.length - 1) {
        const before = new Set(first.split('\n'));
        const after = new Set(state.split('\n'));
        const lost = [...before].filter((l) => !after.has(l));
        const gained = [...after].filter((l) => !before.has(l));
        assert(lost.length + gained.length === 0, `kernel state after the round trip differs:\n- ${lost.join('\n- ')}\n+ ${gained.join('\n+ ')}`);
      }
    }
    for (const mode of all) for (const family of [4, 6] as const) await backend(mode, family, topo.node.name).cleanup();
    // KUBE-FIREWALL is kubelet's chain: the iptables mode adds to it and never deletes it (as upstream).
    const leftovers = (await kernelState(topo)).split('\n').filter((l) => /KUBE-(?!FIREWALL)|kube-proxy|kube-ipvs0: true|^-A -[tu] /.test(l));
    assert(leftovers.length === 0, `leftovers after cleaning up every mode:\n${leftovers.join('\n')}`);
  } finally {
    await topo.destroy();
  }
});
