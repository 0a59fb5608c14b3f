// `kpr inspect`: the Services the kernel of this network namespace implements, read
// back from iptables, nftables or IPVS (whichever has kpr's objects), printed in the
// manner of `ipvsadm -Ln` or as JSON, with live counters from conntrack (--stats,
// --rate), refreshed in place (--watch). The shell: runs the listing commands, hands
// their output to the pure core (inspect.ts, stats.ts) and prints.
import { setTimeout as sleep } from 'node:timers/promises';
import * as z from 'zod';
import { errorMessage } from '../../lib/errors.ts';
import type { IPFamily } from '../../lib/ip.ts';
import { STATE_DIR } from '../ipvs/names.ts';
import { collect, connections, ipvsCounters } from '../inspect/collect.ts';
import { filterInspection, parseFrontendFilter } from '../inspect/filter.ts';
import { formatJson, formatText } from '../inspect/format.ts';
import { inspect } from '../inspect/inspect.ts';
import { parseIpvsStats, withIpvsCounters } from '../inspect/ipvs-stats.ts';
import type { Inspection } from '../inspect/model.ts';
import { withRates, withStats, type ConntrackConnection } from '../inspect/stats.ts';
import { parseCommandArgs } from './args.ts';

const USAGE = `usage: kpr inspect [--proxy-mode iptables|nftables|ipvs|auto] [--family 4|6|all] [-o text|json]
                   [--stats] [--rate SECONDS] [--watch [--interval SECONDS]]
                   [--service NAMESPACE/NAME] [--frontend IP:PORT] [--state-dir DIR]
Shows the Services the kernel implements on this node and their backends, read from
the kernel's rules (not from the API server). With --proxy-mode auto (the default),
every mode whose objects exist is shown.
  --stats      active and total connections per frontend and backend (conntrack), with
               packets and bytes where the kernel counts them (IPVS's own counters;
               conntrack's with nf_conntrack_acct=1)
  --rate S     new connections (and packets, bytes) per second over S seconds
  --watch      refresh the view in place every --interval seconds (default 2)
  --state-dir  where kpr proxy keeps the IPVS mode's Service names (default ${STATE_DIR})
`;

const seconds = z.coerce.number().positive().max(3600);
const argsSchema = z.object({
  mode: z.enum(['iptables', 'nftables', 'ipvs', 'auto']).default('auto'),
  family: z.enum(['4', '6', 'all']).default('all'),
  output: z.enum(['text', 'json']).default('text'),
  stats: z.boolean().default(false),
  rate: seconds.optional(),
  watch: z.boolean().default(false),
  interval: seconds.default(2),
  service: z.string().regex(/^[^/\s]+\/[^/\s]+$/, 'want NAMESPACE/NAME').optional(),
  frontend: z.string().optional(),
  stateDir: z.string().min(1).default(STATE_DIR),
});
type Args = z.infer<typeof argsSchema>;

const FLAGS: Record<string, keyof Args> = {
  '--proxy-mode': 'mode', '--family': 'family', '-o': 'output', '--output': 'output', '--rate': 'rate', '--interval': 'interval',
  '--service': 'service', '--frontend': 'frontend', '--state-dir': 'stateDir',
};
const SWITCHES: Record<string, keyof Args> = { '--stats': 'stats', '--watch': 'watch' };

async function conntrackOf(families: readonly IPFamily[]): Promise<Map<IPFamily, ConntrackConnection[]>> {
  return new Map(await Promise.all(families.map(async (f) => [f, await connections(f)] as const)));
}

/** One reading: the views, with counters when asked (rates against `previous`). */
async function read(args: Args, families: IPFamily[], previous?: { at: number; conns: Map<IPFamily, ConntrackConnection[]> }) {
  // The first reading of a rate comes first, so that the interval starts when the command does.
  let before = previous;
  if (args.rate !== undefined && !before) before = { at: performance.now(), conns: await conntrackOf(families) };
  const result = inspect(await collect(args.mode, families, args.stateDir), args.mode, families);
  const filtered = filterInspection(result, { service: args.service, frontend: args.frontend ? parseFrontendFilter(args.frontend) : undefined });
  if (!args.stats && args.rate === undefined) return { result: filtered };
  if (args.rate !== undefined && !previous && before) await sleep(Math.max(0, args.rate * 1000 - (performance.now() - before.at)));
  const at = performance.now();
  const conns = await conntrackOf(families);
  const seconds = before ? Math.round(at - before.at) / 1000 : undefined;
  const ipvs = args.stats && filtered.views.some((v) => v.mode === 'ipvs') ? parseIpvsStats(await ipvsCounters()) : undefined;
  const views = filtered.views.map((v) => {
    const now = conns.get(v.family) ?? [];
    const counted = args.stats ? withStats(v, now) : v;
    if (ipvs && v.mode === 'ipvs') withIpvsCounters(counted, ipvs);
    return before && seconds ? withRates(counted, before.conns.get(v.family) ?? [], now, seconds) : counted;
  });
  return { result: { ...filtered, ...(seconds ? { rateSeconds: seconds } : {}), views }, reading: { at, conns } };
}

const print = (args: Args, r: Inspection) => (args.output === 'json' ? formatJson(r) : formatText(r));

/** Redraws in place: cursor home, each line cleared to its end, the rest of the screen cleared (no flicker). */
function redraw(text: string): void {
  const lines = text.replace(/\n$/, '').split('\n').map((l) => `${l}\x1b[K`);
  process.stdout.write(`\x1b[H${lines.join('\n')}\n\x1b[J`);
}

async function watch(args: Args, families: IPFamily[]): Promise<number> {
  let previous: Awaited<ReturnType<typeof read>>['reading'];
  process.stdout.write('\x1b[?1049h\x1b[H'); // the alternate screen, as watch(1) and top use
  const restore = () => process.stdout.write('\x1b[?1049l');
  process.once('SIGINT', () => { restore(); process.exit(0); });
  process.once('SIGTERM', () => { restore(); process.exit(0); });
  for (;;) {
    const header = `Every ${args.interval}s: kpr inspect    ${new Date().toISOString()}\n\n`;
    try {
      const r = await read(args, families, previous);
      if (args.rate !== undefined) previous = r.reading;
      redraw(header + print(args, r.result));
    } catch (err) {
      redraw(`${header}kpr inspect: ${errorMessage(err)}\n`);
    }
    await sleep(args.interval * 1000);
  }
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let args: Args;
  try {
    args = parseCommandArgs(argv, argsSchema, FLAGS, SWITCHES);
    if (args.frontend) parseFrontendFilter(args.frontend);
  } catch (err) {
    process.stderr.write(`kpr inspect: ${errorMessage(err)}\n${USAGE}`);
    return 2;
  }
  const families: IPFamily[] = args.family === 'all' ? [4, 6] : [Number(args.family) as IPFamily];
  if (args.watch) return watch(args, families);
  try {
    process.stdout.write(print(args, (await read(args, families)).result));
    return 0;
  } catch (err) {
    process.stderr.write(`kpr inspect: ${errorMessage(err)}\n`);
    return 1;
  }
}
