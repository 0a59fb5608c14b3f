import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Topology } from '../../test/flows/topology.ts';
import { FLOWS, OBJECTS } from '../../test/flows/table.ts';
import { runFlows } from '../../test/flows/run.ts';
import { newState, program } from '../../test/flows/fixture.ts';
import { NftablesProxier } from './proxier.ts';

describe('nftables mode: the flow table with real packets', () => {
  let topo: Topology;
  beforeAll(async () => {
    topo = await Topology.create();
    await topo.startServers({ tcp: [8080], udp: [5353] });
  });
  afterAll(async () => topo?.destroy());

  it('every flow behaves as the table says', async () => {
    const command = ['ip', 'netns', 'exec', topo.node.name, 'nft'];
    const backends = [4, 6].map((family) => new NftablesProxier({ family: family as 4 | 6, command }));
    await program(newState(), backends, OBJECTS, true);
    expect(await runFlows(topo, FLOWS, 'nftables')).toEqual([]);
  });
});
