// Times `nft -f` of each candidate layout (bench/nftables/layouts.ts) inside a
// throwaway network namespace: the full load, then the incremental costs on the
// loaded table (one element add; one endpoint replaced), each a fresh `nft -f -`.
// (A long-lived `nft -i` was measured too and gives nothing: it re-reads its cache
// for every command; see proxy/nftables/README.md.) Usage:
//   node bench/nftables/layout-bench.ts [--layouts a,b] [--sizes 1000x10,5000x50] [--timeout 120] [--out file.json]
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { run } from '../../lib/exec.ts';
import { Netns } from '../../lab/netns.ts';
import { LAYOUTS, endpointChange, ruleset, type LayoutName } from './layouts.ts';

interface Row {
  layout: LayoutName;
  services: number;
  endpoints: number;
  fullMs: number | null;
  elementAddMs?: number;
  endpointChangeMs?: number;
  /** CPU seconds of the full load: user (nft parsing) and system (kernel). */
  fullUserS?: number;
  fullSysS?: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function measure(ns: Netns, layout: LayoutName, n: number, e: number, timeoutS: number): Promise<Row> {
  const file = `/tmp/kpr-layout-${process.pid}.nft`;
  writeFileSync(file, ruleset(layout, n, e));
  const row: Row = { layout, services: n, endpoints: e, fullMs: null };
  const t0 = performance.now();
  const res = await run('ip', ['netns', 'exec', ns.name, '/usr/bin/time', '-f', 'KPRTIME %U %S', 'timeout', String(timeoutS), 'nft', '-f', file], { allowFailure: true });
  if (res.exitCode === 0) {
    row.fullMs = Math.round(performance.now() - t0);
    const m = /KPRTIME ([\d.]+) ([\d.]+)/.exec(res.stderr);
    if (m) { row.fullUserS = Number(m[1]); row.fullSysS = Number(m[2]); }
  }
  else console.error(`${layout} ${n}x${e}: exit ${res.exitCode} ${res.stderr.slice(0, 300)}`);
  if (row.fullMs !== null) {
    const nft = (input: string) => run('ip', ['netns', 'exec', ns.name, 'nft', '-f', '-'], { input });
    const adds: number[] = [];
    const changes: number[] = [];
    for (let r = 0; r < 3; r++) {
      adds.push(await timed(() => nft(`add element ip kpr service-ips { 10.97.0.${r + 1} . tcp . 80 : drop }\n`)));
      changes.push(await timed(() => nft(endpointChange(layout, n - 1 - r, e, `10.255.255.${r + 1}`))));
    }
    row.elementAddMs = Math.round(median(adds));
    row.endpointChangeMs = Math.round(median(changes));
  }
  await run('ip', ['netns', 'exec', ns.name, 'nft', 'delete', 'table', 'ip', 'kpr'], { allowFailure: true });
  return row;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      layouts: { type: 'string', default: LAYOUTS.join(',') },
      sizes: { type: 'string', default: '1000x10,1000x50,5000x10,5000x50,10000x10,10000x50' },
      timeout: { type: 'string', default: '120' },
      out: { type: 'string', default: '/tmp/kpr-nft-layouts.json' },
    },
  });
  const layouts = values.layouts.split(',') as LayoutName[];
  const sizes = values.sizes.split(',').map((s) => s.split('x').map(Number) as [number, number]);
  const ns = await Netns.create('nftlay');
  const rows: Row[] = [];
  try {
    for (const [n, e] of sizes) {
      for (const layout of layouts) {
        const row = await measure(ns, layout, n, e, Number(values.timeout));
        rows.push(row);
        console.log(JSON.stringify(row));
      }
    }
  } finally {
    await ns.destroy();
  }
  writeFileSync(values.out, `${JSON.stringify(rows, null, 2)}\n`);
}

await main();
