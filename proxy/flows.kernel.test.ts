// Every mode's backend, programmed straight from the flow-table cluster (no API
// server, no daemon), against the flow table with real packets. IPVS runs the same
// table in a VM (test/ipvs-vm), as this kernel has no IP_VS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_IP, Topology } from '../lab/topology.ts';
import { FLOWS, OBJECTS, type Flow } from '../lab/flow-table.ts';
import { runFlows } from '../lab/observe.ts';
import { newState, program } from '../test/support/flows-fixture.ts';
import type { IPFamily } from '../lib/ip.ts';
import type { ProxyBackend, RulesConfig } from './backend.ts';
import { IptablesProxier } from './iptables/proxier.ts';
import { iptablesTables } from './iptables/apply.ts';
import { NftablesProxier } from './nftables/proxier.ts';
import { parseNfacctList } from './iptables/features.ts';

const backends: Record<'iptables' | 'nftables', (family: IPFamily, nodeNs: string) => ProxyBackend> = {
  iptables: (family, ns) => new IptablesProxier({ family, tables: iptablesTables(family, ['ip', 'netns', 'exec', ns]) }),
  nftables: (family, ns) => new NftablesProxier({ family, command: ['ip', 'netns', 'exec', ns, 'nft'] }),
};

/** Settings that change the outcome of some flows, with those flows' expectations. */
const VARIANTS: { name: string; config: (family: IPFamily) => Partial<RulesConfig>; flows: Flow[] }[] = [
  {
    name: 'masqueradeAll',
    config: () => ({ masqueradeAll: true }),
    flows: [{ name: 'pod to ClusterIP is masqueraded too', from: 'client', family: 4, proto: 'tcp', to: { ip: '10.96.0.10', port: 80 }, expect: { reach: ['s1', 's2', 'r1'], masq: true } }],
  },
  {
    name: 'no local-traffic detector (no cluster CIDR)',
    config: () => ({ localDetector: { mode: 'None' } }),
    flows: [{ name: 'off-cluster source to ClusterIP is not masqueraded', from: 'ext', family: 4, proto: 'tcp', to: { ip: '10.96.0.10', port: 80 }, expect: { reach: ['s1', 's2', 'r1'], masq: false } }],
  },
  {
    name: 'nodePortAddresses limited to the node IP',
    config: (family) => ({ nodePortIPs: [family === 4 ? NODE_IP.ip4 : NODE_IP.ip6] }),
    flows: [
      { name: 'NodePort on the node IP', from: 'client', family: 4, proto: 'tcp', to: { ip: '192.0.2.1', port: 30080 }, expect: { reach: ['r1'], masq: true } },
      // 10.244.1.1 is the node's address on the pod veths: not a NodePort address any more.
      { name: 'NodePort on another node address', from: 'client', family: 4, proto: 'tcp', to: { ip: '10.244.1.1', port: 30080 }, expect: { blocked: 'REJECT' } },
    ],
  },
];

describe.each(Object.keys(backends) as (keyof typeof backends)[])('%s mode with real packets', (mode) => {
  let topo: Topology;
  beforeAll(async () => {
    topo = await Topology.create();
    await topo.startServers({ tcp: [8080], udp: [5353] });
  });
  afterAll(async () => topo?.destroy());

  /** Programs the flow cluster from scratch (new state, new backends: a full sync). */
  const programWith = (config?: (family: IPFamily) => Partial<RulesConfig>) =>
    program(newState(), [backends[mode](4, topo.node.name), backends[mode](6, topo.node.name)], OBJECTS, true, config);

  it('every flow behaves as the table says', async () => {
    await programWith();
    expect(await runFlows(topo, FLOWS, mode)).toEqual([]);
  });

  it.runIf(mode === 'iptables')("counts NodePort packets on 127.0.0.1 into upstream's nfacct object", async () => {
    await programWith();
    const counted = async () => parseNfacctList((await topo.node.exec('nfacct', ['list'])).stdout);
    const before = await counted();
    expect([...before.keys()].sort()).toEqual(['ct_state_invalid_dropped_pkts', 'localhost_nps_accepted_pkts']);
    const localhost = FLOWS.filter((f) => f.name.startsWith('NodePort on 127.0.0.1'));
    const other = FLOWS.filter((f) => f.name.startsWith('NodePort from outside, Cluster policy') && f.family === 4);
    expect(await runFlows(topo, other, mode)).toEqual([]);
    expect((await counted()).get('localhost_nps_accepted_pkts')).toBe(before.get('localhost_nps_accepted_pkts'));
    expect(await runFlows(topo, localhost, mode)).toEqual([]);
    expect((await counted()).get('localhost_nps_accepted_pkts')).toBeGreaterThan(before.get('localhost_nps_accepted_pkts') ?? 0);
  });

  it.each(VARIANTS)('settings that change flows: $name', async ({ config, flows }) => {
    await programWith(config);
    expect(await runFlows(topo, flows, mode)).toEqual([]);
  });
});
