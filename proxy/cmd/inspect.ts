// `kpr inspect`: the Services the kernel of this network namespace implements, read
// back from iptables, nftables or IPVS (whichever has kpr's objects), printed in the
// manner of `ipvsadm -Ln` or as JSON. The shell: runs the listing commands, hands
// their output to the pure core (inspect.ts) and prints.
import * as z from 'zod';
import { errorMessage } from '../../lib/errors.ts';
import { run, type KernelErrno } from '../../lib/exec.ts';
import type { IPFamily } from '../../lib/ip.ts';
import { formatJson, formatText } from '../inspect/format.ts';
import { inspect, type Listings } from '../inspect/inspect.ts';
import type { Mode } from '../inspect/model.ts';

const USAGE = `usage: kpr inspect [--proxy-mode iptables|nftables|ipvs|auto] [--family 4|6|all] [-o text|json]
Shows the Services the kernel implements on this node and their backends, read from
the kernel's rules (not from the API server). With --proxy-mode auto (the default),
every mode whose objects exist is shown.
`;

const argsSchema = z.object({
  mode: z.enum(['iptables', 'nftables', 'ipvs', 'auto']),
  family: z.enum(['4', '6', 'all']),
  output: z.enum(['text', 'json']),
});
type Args = z.infer<typeof argsSchema>;

const FLAGS: Record<string, keyof Args> = { '--proxy-mode': 'mode', '--family': 'family', '-o': 'output', '--output': 'output' };

function parseArgs(argv: readonly string[]): Args {
  const raw: Record<string, string> = { mode: 'auto', family: 'all', output: 'text' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const [flag = '', inline] = a.split(/=(.*)/s, 2);
    const key = FLAGS[flag];
    if (!key) throw new Error(`unknown argument "${a}"`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    raw[key] = value;
  }
  const parsed = argsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = Object.keys(FLAGS).find((f) => FLAGS[f] === issue?.path[0]) ?? '';
    throw new Error(`invalid ${flag} "${raw[String(issue?.path[0])]}"`);
  }
  return parsed.data;
}

/** Runs a listing command; undefined (and a note in `problems`) when it cannot run or fails. */
async function list(cmd: string, args: string[], problems: string[], absent?: KernelErrno): Promise<string | undefined> {
  try {
    const r = await run(cmd, args, { allowFailure: true });
    if (r.exitCode === 0) return r.stdout;
    if (absent === undefined || r.errno !== absent) problems.push(`${cmd} ${args.join(' ')}: ${r.stderr.trim().split('\n')[0] ?? `exit ${r.exitCode}`}`);
  } catch (err) {
    problems.push(`${cmd}: ${errorMessage(err)}`);
  }
  return undefined;
}

async function collect(mode: Mode | 'auto', families: readonly IPFamily[]): Promise<Listings> {
  const problems: string[] = [];
  const want = (m: Mode) => mode === 'auto' || mode === m;
  const l: Listings = { families: {}, problems };
  for (const f of families) {
    l.families[f] = {
      // The IPVS mode's masquerade rule lives in iptables too.
      ...(want('iptables') || want('ipvs') ? { iptablesSave: await list(f === 4 ? 'iptables-save' : 'ip6tables-save', [], problems) } : {}),
      ...(want('nftables') ? { nftJson: await list('nft', ['-j', 'list', 'table', f === 4 ? 'ip' : 'ip6', 'kpr'], problems, 'ENOENT') } : {}),
    };
  }
  if (want('ipvs')) {
    l.ipvsadm = await list('ipvsadm', ['-S', '-n'], problems);
    if (l.ipvsadm !== undefined) l.ipset = await list('ipset', ['save'], problems);
  }
  return l;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`kpr inspect: ${errorMessage(err)}\n${USAGE}`);
    return 2;
  }
  const families: IPFamily[] = args.family === 'all' ? [4, 6] : [Number(args.family) as IPFamily];
  try {
    const result = inspect(await collect(args.mode, families), args.mode, families);
    process.stdout.write(args.output === 'json' ? formatJson(result) : formatText(result));
    return 0;
  } catch (err) {
    process.stderr.write(`kpr inspect: ${errorMessage(err)}\n`);
    return 1;
  }
}
