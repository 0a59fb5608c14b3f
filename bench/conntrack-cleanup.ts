// Stale UDP conntrack cleanup at scale, in a throwaway namespace: N UDP entries of one
// Service spread over E endpoints, of which G go away. kpr's way (one ctnetlink dump of
// the table, then one pipelined delete per stale entry, each a hash lookup) against a
// `conntrack -D` filter per gone endpoint (each call walks the whole table), timed in
// the same run on the same table.
// Usage: node --import tsx bench/conntrack-cleanup.ts [--entries 250000] [--endpoints 100] [--gone 20]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { cleanupInNamespace } from '../test/support/conntrack-in-netns.ts';
import { udpDestinations } from '../proxy/conntrack/stale.ts';
import { endpoint, servicePort, snapshot } from '../test/support/proxy-model.ts';
import { NamespaceSet, type Netns } from '../lab/netns.ts';

const VIP = '10.96.0.53';
const epIP = (k: number) => `10.244.${k >> 8}.${(k & 255) + 1}`;

const service = servicePort('bench', 'dns', { portName: 'dns', protocol: 'UDP', clusterIP: VIP, port: 53 });

/** Fills the table with one `conntrack -R` of inserts (creates are not walks, unlike -D lines). */
async function fill(ns: Netns, entries: number, endpoints: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kpr-ct-'));
  try {
    const lines: string[] = [];
    for (let i = 0; i < entries; i++) {
      const client = `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
      const ep = epIP(i % endpoints);
      lines.push(`-I -p udp -s ${client} -d ${VIP} --sport 40000 --dport 53 --reply-src ${ep} --reply-dst ${client} --reply-port-src 5353 --reply-port-dst 40000 -t 900`);
    }
    writeFileSync(join(dir, 'insert'), `${lines.join('\n')}\n`);
    await ns.exec('conntrack', ['-R', join(dir, 'insert')]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function count(ns: Netns): Promise<number> {
  return Number((await ns.exec('conntrack', ['-C'])).stdout.trim());
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { entries: { type: 'string', default: '250000' }, endpoints: { type: 'string', default: '100' }, gone: { type: 'string', default: '20' } } });
  const entries = Number(values.entries);
  const endpoints = Number(values.endpoints);
  const gone = Number(values.gone);
  const set = new NamespaceSet();
  try {
    const ns = await set.create('ctbench');
    const remaining = Array.from({ length: endpoints - gone }, (_, k) => endpoint(epIP(k + gone), { port: 5353 }));
    const snap = snapshot([[service, remaining]]);
    const expectGone = Math.round((entries * gone) / endpoints);

    let t0 = performance.now();
    await fill(ns, entries, endpoints);
    const fillMs = performance.now() - t0;
    const before = await count(ns);
    t0 = performance.now();
    const report = await cleanupInNamespace(ns.name, { family: 4, destinations: udpDestinations(snap), localAddresses: new Set() });
    const ours = performance.now() - t0;
    const afterOurs = await count(ns);

    await ns.exec('conntrack', ['-F'], { allowFailure: true });
    await fill(ns, entries, endpoints);
    t0 = performance.now();
    for (let k = 0; k < gone; k++) {
      await ns.exec('conntrack', ['-D', '-p', 'udp', '--orig-dst', VIP, '--orig-port-dst', '53', '--reply-src', epIP(k)], { allowFailure: true });
    }
    const baseline = performance.now() - t0;
    const afterBaseline = await count(ns);

    const ms = (v: number) => `${v.toFixed(0)} ms`;
    process.stdout.write(
      `conntrack table: ${before} UDP entries to ${VIP}:53 over ${endpoints} endpoints (filled in ${ms(fillMs)}); ${gone} endpoints gone (${expectGone} stale entries)\n` +
        `kpr (${report.via}: one dump, ${report.deleted} pipelined deletes): ${ms(ours)} wall incl. starting the child in the namespace ` +
        `[dump+choose ${ms(report.dumpMs)} over ${report.scanned} entries, delete ${ms(report.deleteMs)}], ${afterOurs} left\n` +
        `baseline (conntrack -D per gone endpoint, ${gone} calls): ${ms(baseline)}, ${afterBaseline} left\n` +
        `ratio baseline/kpr: ${(baseline / ours).toFixed(1)}x wall, ${(baseline / (report.dumpMs + report.deleteMs)).toFixed(1)}x in-namespace work\n`,
    );
  } finally {
    await set.destroyAll();
  }
}

await main();
