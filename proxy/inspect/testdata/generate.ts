// Regenerates the kernel listings the inspect parsers are tested on: the flow-table
// cluster programmed by the iptables and nftables modes into a throwaway namespace,
// then read back as `iptables-save` and `nft -j list table`. Needs root.
//   node --import tsx proxy/inspect/testdata/generate.ts
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Netns } from '../../../lab/netns.ts';
import { newState, program } from '../../../test/support/flows-fixture.ts';
import { OBJECTS } from '../../../lab/flow-table.ts';
import { IptablesProxier } from '../../iptables/proxier.ts';
import { iptablesTables } from '../../iptables/apply.ts';
import { NftablesProxier } from '../../nftables/proxier.ts';

const dir = import.meta.dirname;
const ns = await Netns.create('insgen');
try {
  const wrap = ['ip', 'netns', 'exec', ns.name];
  const families = [4, 6] as const;
  await program(newState(), families.flatMap((family) => [
    new IptablesProxier({ family, tables: iptablesTables(family, wrap) }),
    new NftablesProxier({ family, command: [...wrap, 'nft'] }),
  ]), OBJECTS, true);
  for (const family of families) {
    const bin = family === 4 ? 'iptables-save' : 'ip6tables-save';
    const save = (await ns.exec(bin, [])).stdout.replace(/^# .*\n/gm, '');
    await writeFile(join(dir, `flows-ipv${family}.iptables-save`), save);
    const json = (await ns.exec('nft', ['-j', 'list', 'table', family === 4 ? 'ip' : 'ip6', 'kpr'])).stdout;
    // One object per line: small, and diffs show which object changed.
    const items = (JSON.parse(json) as { nftables: unknown[] }).nftables.map((o) => JSON.stringify(o));
    await writeFile(join(dir, `flows-ipv${family}.nft.json`), `{"nftables": [\n${items.join(',\n')}\n]}\n`);
  }
} finally {
  await ns.destroy();
}
