// The shared flow table against the IPVS mode, IPv4 and IPv6, with real packets.
import { IpvsProxier } from '../../proxy/ipvs/proxier.ts';
import { newState, program } from '../flows/fixture.ts';
import { checkFlow } from '../flows/run.ts';
import { FLOWS, OBJECTS, type Flow } from '../flows/table.ts';
import { Topology } from '../flows/topology.ts';
import { differenceFor } from './differences.ts';
import { assert, note, test } from './runner.ts';

/** The table with the IPVS differences applied as the rows' `modes.ipvs`. */
export function ipvsFlows(): Flow[] {
  return FLOWS.map((f) => {
    const d = differenceFor(f.name);
    return d ? { ...f, modes: { ...f.modes, ipvs: d.expect } } : f;
  });
}

test('flow table: every flow behaves as the table says (IPVS differences applied)', async () => {
  const topo = await Topology.create();
  try {
    await topo.startServers({ tcp: [8080], udp: [5353] });
    const backends = ([4, 6] as const).map((family) => new IpvsProxier({ family, netns: topo.node.name }));
    await program(newState(), backends, OBJECTS, true);
    const failures: string[] = [];
    const queue = ipvsFlows();
    const worker = async () => {
      for (let f = queue.shift(); f; f = queue.shift()) {
        const problem = await checkFlow(topo, f, 'ipvs');
        if (problem) failures.push(`${f.name}: ${problem}`);
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    for (const b of backends) await b.cleanup();
    if (failures.length) note(failures.sort().join('\n'));
    assert(failures.length === 0, `${failures.length} flows differ from the table`);
  } finally {
    await topo.destroy();
  }
});
