// Every mode's backend, programmed straight from the flow-table cluster (no API
// server, no daemon), against the flow table with real packets. IPVS runs the same
// table in a VM (test/ipvs-vm), as this kernel has no IP_VS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Topology } from '../test/flows/topology.ts';
import { FLOWS, OBJECTS } from '../test/flows/table.ts';
import { runFlows } from '../test/flows/run.ts';
import { newState, program } from '../test/flows/fixture.ts';
import type { IPFamily } from '../lib/ip.ts';
import type { ProxyBackend, ProxyMode } from './backend.ts';
import { IptablesProxier } from './iptables/proxier.ts';
import { iptablesTables } from './iptables/apply.ts';
import { NftablesProxier } from './nftables/proxier.ts';

const backends: Partial<Record<ProxyMode, (family: IPFamily, nodeNs: string) => ProxyBackend>> = {
  iptables: (family, ns) => new IptablesProxier({ family, tables: iptablesTables(family, ['ip', 'netns', 'exec', ns]) }),
  nftables: (family, ns) => new NftablesProxier({ family, command: ['ip', 'netns', 'exec', ns, 'nft'] }),
};

describe.each(Object.keys(backends) as ProxyMode[])('%s mode: the flow table with real packets', (mode) => {
  let topo: Topology;
  beforeAll(async () => {
    topo = await Topology.create();
    await topo.startServers({ tcp: [8080], udp: [5353] });
  });
  afterAll(async () => topo?.destroy());

  it('every flow behaves as the table says', async () => {
    const make = backends[mode];
    if (!make) throw new Error(`no backend for ${mode}`);
    await program(newState(), [make(4, topo.node.name), make(6, topo.node.name)], OBJECTS, true);
    expect(await runFlows(topo, FLOWS, mode)).toEqual([]);
  });
});
