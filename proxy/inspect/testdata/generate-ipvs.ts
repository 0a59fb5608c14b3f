// Regenerates the IPVS-mode listings the inspect parser is tested on: the flow-table
// cluster programmed by the IPVS mode into a namespace of a kernel with IP_VS, read
// back as `ipvsadm -S -n`, `ipset save` and `ip(6)tables-save -t nat`. Our machines have
// no IP_VS: this runs in the IPVS test VM (test/ipvs-vm/vm/boot.sh, as test/ipvs-vm/run.sh
// uses it), bundled, with the output folder shared:
//   esbuild proxy/inspect/testdata/generate-ipvs.ts --bundle --platform=node --format=esm \
//     --outfile=.cache/inspect-ipvs/gen.mjs --banner:js="import { createRequire as r } from 'node:module'; const require = r(import.meta.url);"
//   bash test/ipvs-vm/vm/boot.sh \
//     --share $PWD/.cache/inspect-ipvs --share $PWD/proxy/inspect/testdata --cwd $PWD/.cache/inspect-ipvs \
//     -- "node $PWD/.cache/inspect-ipvs/gen.mjs $PWD/proxy/inspect/testdata"
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Netns } from '../../../lab/netns.ts';
import { newState, program } from '../../../test/support/flows-fixture.ts';
import { OBJECTS } from '../../../lab/flow-table.ts';
import { NODE_IP } from '../../../lab/topology.ts';
import { IpvsProxier } from '../../ipvs/proxier.ts';

const dir = process.argv[2] ?? import.meta.dirname;
const ns = await Netns.create('insipvs');
try {
  // The node's uplink address: where NodePort virtual servers go.
  await ns.ipBatch(['link add up0 type dummy', 'link set up0 up', `addr add ${NODE_IP.ip4}/24 dev up0`, `addr add ${NODE_IP.ip6}/64 dev up0 nodad`]);
  await program(newState(), ([4, 6] as const).map((family) => new IpvsProxier({ family, netns: ns.name })), OBJECTS, true);
  const save = async (file: string, cmd: string, args: string[]) =>
    writeFile(join(dir, file), (await ns.exec(cmd, args)).stdout.replace(/^# .*\n/gm, ''));
  await save('flows.ipvsadm', 'ipvsadm', ['-S', '-n']);
  await save('flows.ipset', 'ipset', ['save']);
  await save('flows-ipv4.ipvs.iptables-save', 'iptables-save', ['-t', 'nat']);
  await save('flows-ipv6.ipvs.iptables-save', 'ip6tables-save', ['-t', 'nat']);
} finally {
  await ns.destroy();
}
