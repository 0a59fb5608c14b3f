// `kpr inspect` as operators run it: the BUILT executable inside a node namespace that
// each mode has programmed with the flow-table cluster, read back from the kernel.
import { existsSync, linkSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyBackend } from '../backend.ts';
import { iptablesTables } from '../iptables/apply.ts';
import { IptablesProxier } from '../iptables/proxier.ts';
import { NftablesProxier } from '../nftables/proxier.ts';
import { newState, program } from '../../test/support/flows-fixture.ts';
import { OBJECTS } from '../../lab/flow-table.ts';
import { NamespaceSet, type Netns } from '../../lab/netns.ts';
import type { Inspection, Mode } from './model.ts';
import { checkFlowCluster } from '../../test/support/inspect.ts';

const REPO = resolve(import.meta.dirname, '../..');
// The build links kpr-ipam last: its presence means dist/bin/kpr is complete.
const BUILT_LAST = join(REPO, 'dist/bin/kpr-ipam');

function backends(mode: Exclude<Mode, 'ipvs'>, ns: Netns): ProxyBackend[] {
  const wrap = ['ip', 'netns', 'exec', ns.name];
  return ([4, 6] as const).map((family) => (mode === 'iptables'
    ? new IptablesProxier({ family, tables: iptablesTables(family, wrap) })
    : new NftablesProxier({ family, command: [...wrap, 'nft'] })));
}

describe('kpr inspect (built binary) on a node programmed with the flow-table cluster', () => {
  const set = new NamespaceSet();
  let dir = '';
  let kpr = '';
  const inspect = (ns: Netns, args: string[]) => ns.exec(kpr, ['inspect', ...args], { allowFailure: true });

  beforeAll(async () => {
    // Someone may be rebuilding dist/ right now: wait, then pin a private hard link.
    for (let waited = 0; !existsSync(BUILT_LAST) && waited < 60_000; waited += 500) await sleep(500);
    if (!existsSync(BUILT_LAST)) throw new Error('dist/bin/kpr is not built: run npm run build first');
    dir = mkdtempSync(join(tmpdir(), 'kpr-inspect-bin-'));
    kpr = join(dir, 'kpr');
    linkSync(join(REPO, 'dist/bin/kpr'), kpr);
  });
  afterAll(async () => {
    await set.destroyAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const mode of ['iptables', 'nftables'] as const) {
    it(`${mode}: detects the mode and shows every Service with its backends`, async () => {
      const ns = await set.create(`ins${mode.slice(0, 3)}`);
      await program(newState(), backends(mode, ns), OBJECTS, true);

      const json = await inspect(ns, ['-o', 'json']);
      expect(json.stderr).toBe('');
      const result = JSON.parse(json.stdout) as Inspection;
      expect(result.found.map((f) => f.mode)).toEqual([mode]);
      expect(result.views.map((v) => v.family)).toEqual([4, 6]);
      for (const view of result.views) checkFlowCluster(view);

      const text = await inspect(ns, ['--family', '4', '--proxy-mode', mode]);
      expect(text.exitCode).toBe(0);
      expect(text.stdout).toMatch(/^TCP {2}10\.96\.0\.20:80 .* REJECT \(no endpoints\)$/m);
      expect(text.stdout).toMatch(/^TCP {2}\*:30082 .* DROP \(no local endpoints\)$/m);
      expect(text.stdout).toMatch(/^ {5}only from 192\.0\.2\.20; others DROP$/m);
      expect(text.stdout).not.toContain('IPv6');
    });
  }

  it('with both modes programmed, shows both and warns', async () => {
    const ns = await set.create('insboth');
    await program(newState(), [...backends('iptables', ns), ...backends('nftables', ns)], OBJECTS, true);
    const r = await inspect(ns, []);
    expect(r.stdout).toMatch(/^found: iptables \(.*\), nftables \(table ip kpr, table ip6 kpr\)$/m);
    expect(r.stdout).toContain('warning: more than one mode has kpr objects on this node');
  });

  it('names what is missing on a node without kpr rules, or without the mode asked for', async () => {
    const ns = await set.create('insnone');
    const none = await inspect(ns, []);
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toMatch(/^kpr inspect: no kpr rules found in iptables, nftables or IPVS on this node \(.*no nftables table ip kpr or ip6 kpr.*\)\n$/);
    await program(newState(), backends('nftables', ns), OBJECTS, true);
    const wrongMode = await inspect(ns, ['--proxy-mode', 'iptables']);
    expect(wrongMode.exitCode).toBe(1);
    expect(wrongMode.stderr).toContain('no kpr rules found in iptables mode on this node');
    const usage = await inspect(ns, ['--family', '5']);
    expect(usage.exitCode).toBe(2);
    expect(usage.stderr).toContain('invalid --family "5"');
  });
});
