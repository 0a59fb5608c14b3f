// The shared flow table against the IPVS mode, IPv4 and IPv6, with real packets.
import { IpvsProxier } from '../../proxy/ipvs/proxier.ts';
import { newState, program } from '../support/flows-fixture.ts';
import { runFlows } from '../../lab/observe.ts';
import { FLOWS, OBJECTS } from '../../lab/flow-table.ts';
import { Topology } from '../../lab/topology.ts';
import { assert, note, test } from './runner.ts';

test('flow table: every flow behaves as the table says (rows state where IPVS differs)', async () => {
  const topo = await Topology.create();
  try {
    await topo.startServers({ tcp: [8080], udp: [5353] });
    const backends = ([4, 6] as const).map((family) => new IpvsProxier({ family, netns: topo.node.name }));
    await program(newState(), backends, OBJECTS, true);
    const failures = await runFlows(topo, FLOWS, 'ipvs');
    for (const b of backends) await b.cleanup();
    if (failures.length) note(failures.join('\n'));
    assert(failures.length === 0, `${failures.length} flows differ from the table`);
  } finally {
    await topo.destroy();
  }
});
