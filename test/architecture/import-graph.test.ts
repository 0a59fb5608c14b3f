import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkImportGraph, importEdges, type SourceFile } from './import-graph.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

function repositorySources(): SourceFile[] {
  const paths = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '*.ts'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((p) => p !== '' && !p.startsWith('node_modules/'));
  return paths.flatMap((path) => {
    try {
      return [{ path, text: readFileSync(ROOT + path, 'utf8') }];
    } catch {
      return []; // deleted in the working tree, not yet in git
    }
  });
}

describe('import graph', () => {
  it('the repository keeps its module boundaries', () => {
    const sources = repositorySources();
    expect(sources.length).toBeGreaterThan(100);
    expect(checkImportGraph(sources)).toEqual([]);
  });

  const cases: [string, SourceFile[], string][] = [
    ['proxy importing cni', [{ path: 'proxy/sync.ts', text: "import { x } from '../cni/add.ts';" }], 'proxy/ must not import cni/'],
    ['ipam importing proxy', [{ path: 'ipam/store.ts', text: "import { y } from '../proxy/sync.ts';" }], 'ipam/ must not import proxy/'],
    ['the network agent importing proxy', [{ path: 'network/agent.ts', text: "export { z } from '../proxy/watch/objects.ts';" }], 'network/ must not import proxy/'],
    ['cni reaching past ipam/index.ts', [{ path: 'cni/add.ts', text: "import { a } from '../ipam/allocator.ts';" }], 'cni/ reaches ipam/ only through ipam/index.ts'],
    ['product code importing test/', [{ path: 'lab/cli.ts', text: "const m = await import('../test/support/apiserver.ts');" }], 'product code must not import test/'],
    ['lib importing client-node outside lib/kube', [{ path: 'lib/ip.ts', text: "import { KubeConfig } from '@kubernetes/client-node';" }], 'in lib/, only lib/kube/ uses @kubernetes/client-node'],
    [
      'a render module reaching execa through a helper',
      [
        { path: 'proxy/nftables/render.ts', text: "import {\n  helper,\n} from './helper.ts';" },
        { path: 'proxy/nftables/helper.ts', text: "import { execa } from 'execa';" },
      ],
      'pure module reaches I/O (via proxy/nftables/helper.ts)',
    ],
    ['a plan module importing node:fs', [{ path: 'network/plan.ts', text: "import { readFileSync } from 'node:fs';" }], 'pure module reaches I/O (via network/plan.ts)'],
  ];
  it.each(cases)('fails on %s', (_name, sources, rule) => {
    expect(checkImportGraph(sources).map((v) => v.rule)).toContain(rule);
  });

  it('passes type-only imports and allowed ones', () => {
    const sources: SourceFile[] = [
      { path: 'proxy/nftables/render.ts', text: "import type { Logger } from 'pino';\nimport { cidr } from '../../lib/ip.ts';" },
      { path: 'lib/ip.ts', text: "export type { X } from './x.ts';" },
      { path: 'cni/add.ts', text: "import { allocate } from '../ipam/index.ts';" },
      { path: 'proxy/sync.test.ts', text: "import { fake } from '../test/support/proxy-model.ts';" },
      { path: 'lib/kube/informer.ts', text: "import { Watch } from '@kubernetes/client-node';" },
    ];
    expect(checkImportGraph(sources)).toEqual([]);
  });

  it('reads multi-line, side-effect and dynamic imports', () => {
    const text = "import {\n  a,\n  b,\n} from './a.ts';\nimport './b.ts';\nconst c = await import('../c.ts');\nexport * from './d.ts';";
    expect(importEdges({ path: 'x/y.ts', text }).map((e) => e.to)).toEqual(['x/a.ts', 'x/b.ts', 'x/d.ts', 'c.ts']);
  });
});
