// `kpr network`'s flags, in kube-proxy's (pflag's) style: --flag=value or --flag value,
// booleans as --flag or --flag=false. Validated here; the rest of the agent trusts it.
import { hostname } from 'node:os';
import * as z from 'zod';
import { KprError } from '../lib/errors.ts';
import { parseBindAddress, type BindAddress } from '../lib/http-server.ts';
import { normalizeCIDR } from '../lib/ip.ts';
import { parseGoDuration } from '../lib/duration.ts';
import { NetworkError } from './errors.ts';

export type Backend = 'vxlan' | 'host-gw';

export interface NetworkConfig {
  kubeconfig: string | undefined;
  /** The Node this agent runs for. */
  nodeName: string;
  backend: Backend;
  /** vxlan only: host-gw routes to peers on a directly connected subnet. */
  directRouting: boolean;
  /** The underlay interface; undefined: the one holding the Node's InternalIP. */
  iface: string | undefined;
  vxlanPort: number;
  vni: number;
  /** Destinations pods reach without masquerade; empty: every Node's pod CIDRs. */
  clusterCIDRs: string[];
  nodeFile: string;
  healthzBindAddress: BindAddress | null;
  metricsBindAddress: BindAddress | null;
  /** Full reconcile at least this often (repairs entries removed behind the agent's back). */
  syncPeriodMs: number;
  logLevel: string;
  cleanup: boolean;
  help: boolean;
}

export const DEFAULT_NODE_FILE = '/run/kpr/node.json';
const HEALTHZ_PORT = 10268;
const METRICS_PORT = 10269;

type Kind = 'string' | 'bool';
const FLAGS: Record<string, { kind: Kind; help: string; default?: string }> = {
  kubeconfig: { kind: 'string', help: 'kubeconfig file (default: the in-cluster service account)' },
  'hostname-override': { kind: 'string', help: 'the Node name (default: the machine hostname)' },
  backend: { kind: 'string', help: 'vxlan | host-gw', default: 'vxlan' },
  'direct-routing': { kind: 'bool', help: 'vxlan: host-gw routes to peers on a directly connected subnet, VXLAN to the rest' },
  iface: { kind: 'string', help: "the underlay interface (default: the one holding the Node's InternalIP)" },
  'vxlan-port': { kind: 'string', help: 'VXLAN UDP port', default: '8472' },
  vni: { kind: 'string', help: 'VXLAN network identifier', default: '1' },
  'cluster-cidr': { kind: 'string', help: "comma-separated CIDRs pods reach unmasqueraded (default: every Node's pod CIDRs)" },
  'node-file': { kind: 'string', help: 'where the pod CIDRs and MTU are written for kpr-cni / kpr-ipam', default: DEFAULT_NODE_FILE },
  'healthz-bind-address': { kind: 'string', help: 'healthz server address ("" disables)', default: `0.0.0.0:${HEALTHZ_PORT}` },
  'metrics-bind-address': { kind: 'string', help: 'metrics server address ("" disables)', default: `127.0.0.1:${METRICS_PORT}` },
  'sync-period': { kind: 'string', help: 'full reconcile at least this often', default: '30s' },
  v: { kind: 'string', help: 'log verbosity (>= 3: debug)', default: '0' },
  cleanup: { kind: 'bool', help: 'remove every route, neighbour, FDB entry, device, rule and file kpr network made, and exit' },
  help: { kind: 'bool', help: 'print this help' },
};

const BOOL: Record<string, boolean> = { '1': true, t: true, true: true, True: true, TRUE: true, '0': false, f: false, false: false, False: false, FALSE: false };

export function networkUsage(): string {
  const rows = Object.entries(FLAGS).map(([name, f]) => {
    const left = `  --${name}${f.kind === 'string' ? ' VALUE' : ''}`;
    return `${left.padEnd(32)} ${f.help}${f.default !== undefined ? ` (default ${JSON.stringify(f.default)})` : ''}`;
  });
  return `usage: kpr network [flags]\n\nThe node's pod-network agent: routes to every other Node's pod CIDRs (VXLAN or host-gw),\nthe node file for kpr-cni, egress masquerade.\n\nflags:\n${rows.join('\n')}\n`;
}

const invalid = (flag: string, message: string) => new NetworkError('INVALID_CONFIG', message, { object: `--${flag}` });

/** The flags as given (text), with defaults; throws naming an unknown flag or a missing value. */
function readFlags(argv: readonly string[]): Map<string, string> {
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-h') { given.set('help', 'true'); continue; }
    if (!arg.startsWith('--')) throw new NetworkError('INVALID_CONFIG', `kpr network takes no arguments, got ${JSON.stringify(arg)}`);
    const body = arg.slice(2);
    const eq = body.indexOf('=');
    const name = (eq < 0 ? body : body.slice(0, eq)).replaceAll('_', '-');
    const spec = FLAGS[name];
    if (!spec) throw invalid(name, 'unknown flag (see kpr network --help)');
    let text = eq < 0 ? undefined : body.slice(eq + 1);
    if (text === undefined) {
      if (spec.kind === 'bool') text = 'true';
      else if ((text = argv[++i]) === undefined) throw invalid(name, 'needs a value');
    }
    given.set(name, text);
  }
  return given;
}

const int = (min: number, max: number) => z.string().regex(/^\d+$/, 'expected a whole number').transform(Number).pipe(z.number().min(min).max(max));

/** Parses and validates `kpr network`'s command line; errors name the flag. */
export function parseNetworkArgs(argv: readonly string[]): NetworkConfig {
  const given = readFlags(argv);
  const text = (name: string): string | undefined => given.get(name) ?? FLAGS[name]?.default;
  const check = <T>(name: string, schema: z.ZodType<T>): T => {
    const r = schema.safeParse(text(name));
    if (!r.success) throw invalid(name, `${JSON.stringify(text(name))}: ${r.error.issues[0]?.message ?? 'invalid'}`);
    return r.data;
  };
  const bool = (name: string): boolean => {
    const t = text(name);
    if (t === undefined) return false;
    const b = BOOL[t];
    if (b === undefined) throw invalid(name, `${JSON.stringify(t)} is not a boolean`);
    return b;
  };
  const bind = (name: string, port: number): BindAddress | null => {
    const t = text(name) ?? '';
    if (t === '') return null;
    const parsed = parseBindAddress(t, port);
    if (typeof parsed === 'string') throw invalid(name, parsed);
    return parsed;
  };
  const clusterCIDRs = (text('cluster-cidr') ?? '').split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const c = normalizeCIDR(s);
    if (!c) throw invalid('cluster-cidr', `${JSON.stringify(s)} is not a CIDR`);
    return c;
  });
  const backend = check('backend', z.enum(['vxlan', 'host-gw'], { error: 'expected vxlan or host-gw' }));
  const directRouting = bool('direct-routing');
  if (directRouting && backend !== 'vxlan') throw invalid('direct-routing', 'applies to the vxlan backend only');
  const iface = text('iface');
  if (iface !== undefined && !/^[^\s/:]{1,15}$/.test(iface)) throw invalid('iface', `${JSON.stringify(iface)} is not an interface name`);
  const syncPeriodMs = parseGoDuration(text('sync-period') ?? '');
  if (syncPeriodMs === undefined || syncPeriodMs < 1000) throw invalid('sync-period', 'expected a duration of at least 1s, such as "30s"');
  const verbosity = check('v', int(0, 10));
  const nodeFile = text('node-file') ?? DEFAULT_NODE_FILE;
  if (nodeFile === '') throw invalid('node-file', 'must not be empty');
  return {
    kubeconfig: text('kubeconfig') || undefined,
    nodeName: (text('hostname-override') || hostname()).trim().toLowerCase(),
    backend,
    directRouting,
    iface,
    vxlanPort: check('vxlan-port', int(1, 65535)),
    vni: check('vni', int(0, 16_777_215)),
    clusterCIDRs,
    nodeFile,
    healthzBindAddress: bind('healthz-bind-address', HEALTHZ_PORT),
    metricsBindAddress: bind('metrics-bind-address', METRICS_PORT),
    syncPeriodMs,
    logLevel: verbosity >= 5 ? 'trace' : verbosity >= 3 ? 'debug' : 'info',
    cleanup: bool('cleanup'),
    help: bool('help'),
  };
}
