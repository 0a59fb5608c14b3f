// `kpr explain PROTO SRC DST:PORT`: what a new connection does on this node, answered
// from the live rules of the active mode (read as `kpr inspect` reads them), never
// changing the kernel. The shell: collects the listings and the node's addresses,
// hands them to the pure core (explain/explain.ts) and prints.
import * as z from 'zod';
import { errorMessage } from '../../lib/errors.ts';
import { run } from '../../lib/exec.ts';
import { ipFamily, normalizeIP, type IPFamily } from '../../lib/ip.ts';
import { explain, type Origin, type Packet } from '../explain/explain.ts';
import { formatExplanation, formatExplanationJson } from '../explain/format.ts';
import { STATE_DIR } from '../ipvs/names.ts';
import { collect } from '../inspect/collect.ts';
import { parseFrontendFilter } from '../inspect/filter.ts';
import { inspect } from '../inspect/inspect.ts';
import { parseCommandArgs } from './args.ts';

const USAGE = `usage: kpr explain PROTO SRC DST:PORT [--from-external | --from-node] [--proxy-mode iptables|nftables|ipvs|auto]
                   [-o text|json] [--state-dir DIR]
What a new connection from SRC to DST:PORT (PROTO tcp, udp or sctp) does on this node,
read from the live rules of the active mode: the frontend it matches, its traffic policy,
the backends it can reach with their shares and whether its source is masqueraded, or
the rule that rejects or drops it. SRC is a pod on this node unless --from-external (a
host outside the cluster) or --from-node (the node itself). Reads only.
  e.g. kpr explain tcp 10.244.1.5 10.96.0.10:80
`;

const argsSchema = z.object({
  words: z.array(z.string()).length(3, 'want PROTO SRC DST:PORT'),
  mode: z.enum(['iptables', 'nftables', 'ipvs', 'auto']).default('auto'),
  output: z.enum(['text', 'json']).default('text'),
  external: z.boolean().default(false),
  node: z.boolean().default(false),
  stateDir: z.string().min(1).default(STATE_DIR),
});
type Args = z.infer<typeof argsSchema>;

const FLAGS = { '--proxy-mode': 'mode', '-o': 'output', '--output': 'output', '--state-dir': 'stateDir' };
const SWITCHES = { '--from-external': 'external', '--from-node': 'node' };

function packetOf(a: Args): Packet {
  const [proto = '', srcText = '', dstText = ''] = a.words;
  const protocol = proto.toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') throw new Error(`invalid PROTO "${proto}": tcp, udp or sctp`);
  const src = normalizeIP(srcText);
  if (!src) throw new Error(`invalid SRC "${srcText}": want an IP address`);
  const dst = parseFrontendFilter(dstText, 'DST:PORT');
  if (dst.address === '*' || ipFamily(dst.address) !== ipFamily(src)) throw new Error(`invalid DST:PORT "${dstText}": want an address of the family of ${src}`);
  if (a.external && a.node) throw new Error('--from-external and --from-node exclude each other');
  const from: Origin = a.external ? 'external' : a.node ? 'node' : 'pod';
  return { protocol, src, dst: dst.address, port: dst.port, from };
}

/** Every address of this network namespace (`ip -j addr`), kube-ipvs0's and loopback's included. */
async function localAddresses(): Promise<Set<string>> {
  const r = await run('ip', ['-j', 'addr', 'show']);
  const links = z.array(z.looseObject({ addr_info: z.array(z.looseObject({ local: z.string() })).default([]) })).parse(JSON.parse(r.stdout));
  return new Set(links.flatMap((l) => l.addr_info.map((a) => normalizeIP(a.local) ?? a.local)));
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let args: Args;
  let packet: Packet;
  try {
    args = parseCommandArgs(argv, argsSchema, FLAGS, SWITCHES, 'words');
    packet = packetOf(args);
  } catch (err) {
    process.stderr.write(`kpr explain: ${errorMessage(err)}\n${USAGE}`);
    return 2;
  }
  const family = ipFamily(packet.dst) as IPFamily;
  try {
    const [listings, local] = await Promise.all([collect(args.mode, [family], args.stateDir), localAddresses()]);
    const result = inspect(listings, args.mode, [family]);
    if (result.found.length > 1) process.stderr.write(`kpr explain: warning: more than one mode has kpr objects on this node; explaining ${result.found[0]?.mode}\n`);
    const view = result.views[0];
    if (!view) throw new Error('no view');
    const e = explain(view, packet, local);
    process.stdout.write(args.output === 'json' ? formatExplanationJson(e) : formatExplanation(e));
    return 0;
  } catch (err) {
    process.stderr.write(`kpr explain: ${errorMessage(err)}\n`);
    return 1;
  }
}
