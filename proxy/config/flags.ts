// kube-proxy's command-line flags (pflag conventions: --flag=value or --flag value,
// booleans as --flag or --flag=false, '_' equal to '-'), each mapped onto the
// KubeProxyConfiguration field(s) it sets, so that a flag simply overrides the file.
import { KprError } from '../../lib/errors.ts';
import type { RawTree } from './file.ts';
import { ProxyError } from '../errors.ts';

type Kind = 'string' | 'bool' | 'int' | 'float' | 'duration' | 'list' | 'map';
type Special = 'config' | 'master' | 'cleanup' | 'help' | 'writeConfigTo' | 'podCIDRFile';

interface FlagSpec {
  kind: Kind;
  /** Dotted KubeProxyConfiguration paths the flag sets. */
  paths?: string[];
  /** A flag that is not a config field. */
  special?: Special;
  /** Accepted for drop-in compatibility (klog's flags), without effect. */
  ignored?: true;
}

const field = (kind: Kind, ...paths: string[]): FlagSpec => ({ kind, paths });
const special = (kind: Kind, name: Special): FlagSpec => ({ kind, special: name });
const ignored = (kind: Kind): FlagSpec => ({ kind, ignored: true });

const FLAGS: Record<string, FlagSpec> = {
  'bind-address': field('string', 'bindAddress'),
  'bind-address-hard-fail': field('bool', 'bindAddressHardFail'),
  cleanup: special('bool', 'cleanup'),
  'cluster-cidr': field('string', 'clusterCIDR'),
  config: special('string', 'config'),
  'config-sync-period': field('duration', 'configSyncPeriod'),
  'conntrack-max-per-core': field('int', 'conntrack.maxPerCore'),
  'conntrack-min': field('int', 'conntrack.min'),
  'conntrack-tcp-be-liberal': field('bool', 'conntrack.tcpBeLiberal'),
  'conntrack-tcp-timeout-close-wait': field('duration', 'conntrack.tcpCloseWaitTimeout'),
  'conntrack-tcp-timeout-established': field('duration', 'conntrack.tcpEstablishedTimeout'),
  'conntrack-udp-timeout': field('duration', 'conntrack.udpTimeout'),
  'conntrack-udp-timeout-stream': field('duration', 'conntrack.udpStreamTimeout'),
  'detect-local-mode': field('string', 'detectLocalMode'),
  'feature-gates': field('map', 'featureGates'),
  'healthz-bind-address': field('string', 'healthzBindAddress'),
  help: special('bool', 'help'),
  'hostname-override': field('string', 'hostnameOverride'),
  'iptables-localhost-nodeports': field('bool', 'iptables.localhostNodePorts'),
  // The iptables flags configure the nftables mode too, as they do in kube-proxy.
  'iptables-masquerade-bit': field('int', 'iptables.masqueradeBit', 'nftables.masqueradeBit'),
  'iptables-min-sync-period': field('duration', 'iptables.minSyncPeriod', 'nftables.minSyncPeriod'),
  'iptables-sync-period': field('duration', 'iptables.syncPeriod', 'nftables.syncPeriod'),
  'ipvs-exclude-cidrs': field('list', 'ipvs.excludeCIDRs'),
  'ipvs-min-sync-period': field('duration', 'ipvs.minSyncPeriod'),
  'ipvs-scheduler': field('string', 'ipvs.scheduler'),
  'ipvs-strict-arp': field('bool', 'ipvs.strictARP'),
  'ipvs-sync-period': field('duration', 'ipvs.syncPeriod'),
  'ipvs-tcp-timeout': field('duration', 'ipvs.tcpTimeout'),
  'ipvs-tcpfin-timeout': field('duration', 'ipvs.tcpFinTimeout'),
  'ipvs-udp-timeout': field('duration', 'ipvs.udpTimeout'),
  'kube-api-burst': field('int', 'clientConnection.burst'),
  'kube-api-content-type': field('string', 'clientConnection.contentType'),
  'kube-api-qps': field('float', 'clientConnection.qps'),
  kubeconfig: field('string', 'clientConnection.kubeconfig'),
  'logging-format': field('string', 'logging.format'),
  'masquerade-all': field('bool', 'iptables.masqueradeAll', 'nftables.masqueradeAll'),
  master: special('string', 'master'),
  // kpr's own: where the node's pod CIDRs are written for kpr-ipam (not a kube-proxy flag).
  'pod-cidr-file': special('string', 'podCIDRFile'),
  'metrics-bind-address': field('string', 'metricsBindAddress'),
  'nodeport-addresses': field('list', 'nodePortAddresses'),
  'oom-score-adj': field('int', 'oomScoreAdj'),
  'pod-bridge-interface': field('string', 'detectLocal.bridgeInterface'),
  'pod-interface-name-prefix': field('string', 'detectLocal.interfaceNamePrefix'),
  profiling: field('bool', 'enableProfiling'),
  'proxy-mode': field('string', 'mode'),
  'proxy-port-range': field('string', 'portRange'),
  'show-hidden-metrics-for-version': field('string', 'showHiddenMetricsForVersion'),
  v: field('int', 'logging.verbosity'),
  'write-config-to': special('string', 'writeConfigTo'),
  // klog's flags: kube-proxy manifests commonly pass some of them.
  'add-dir-header': ignored('bool'),
  alsologtostderr: ignored('bool'),
  'log-backtrace-at': ignored('string'),
  'log-dir': ignored('string'),
  'log-file': ignored('string'),
  'log-file-max-size': ignored('string'),
  'log-flush-frequency': ignored('string'),
  logtostderr: ignored('bool'),
  'one-output': ignored('bool'),
  'skip-headers': ignored('bool'),
  'skip-log-headers': ignored('bool'),
  stderrthreshold: ignored('string'),
  vmodule: ignored('string'),
};

const SHORT: Record<string, string> = { v: 'v', h: 'help' };

export interface ParsedFlags {
  /** Flag values placed at their KubeProxyConfiguration paths (durations still text). */
  tree: RawTree;
  /** Dotted config path → the flag that set it, to name flags in validation errors. */
  origins: Map<string, string>;
  configFile: string | undefined;
  master: string | undefined;
  podCIDRFile: string | undefined;
  cleanup: boolean;
  help: boolean;
  writeConfigTo: string | undefined;
  warnings: string[];
}

const BOOL: Record<string, boolean> = { '1': true, t: true, T: true, true: true, TRUE: true, True: true, '0': false, f: false, F: false, false: false, FALSE: false, False: false };

function invalid(flag: string, message: string): KprError {
  return new ProxyError('INVALID_CONFIG', message, { object: flag });
}

function convert(flag: string, kind: Kind, text: string, previous: unknown): unknown {
  switch (kind) {
    case 'string':
    case 'duration':
      return text;
    case 'bool': {
      const b = BOOL[text];
      if (b === undefined) throw invalid(flag, `${JSON.stringify(text)} is not a boolean`);
      return b;
    }
    case 'int':
      if (!/^[-+]?\d+$/.test(text)) throw invalid(flag, `${JSON.stringify(text)} is not an integer`);
      return Number(text);
    case 'float': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) throw invalid(flag, `${JSON.stringify(text)} is not a number`);
      return n;
    }
    case 'list': {
      // Repeating a list flag appends, as pflag's string slices do.
      const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
      return [...(Array.isArray(previous) ? previous : []), ...items];
    }
    case 'map': {
      const gates: Record<string, boolean> = { ...(previous as Record<string, boolean> | undefined) };
      for (const pair of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
        const [key = '', value = '', extra] = pair.split('=').map((s) => s.trim());
        const b = BOOL[value];
        if (key === '' || b === undefined || extra !== undefined) throw invalid(flag, `${JSON.stringify(pair)} is not a key=true|false pair`);
        gates[key] = b;
      }
      return gates;
    }
  }
}

function getPath(tree: RawTree, path: string): unknown {
  let node: unknown = tree;
  for (const key of path.split('.')) node = (node as RawTree | undefined)?.[key];
  return node;
}

function setPath(tree: RawTree, path: string, value: unknown): void {
  const keys = path.split('.');
  const last = keys.pop() as string;
  let node = tree;
  for (const key of keys) node = (node[key] ??= {}) as RawTree;
  node[last] = value;
}

/** Parses kube-proxy's flags; throws KprError INVALID_CONFIG naming the offending flag. */
export function parseFlags(argv: readonly string[]): ParsedFlags {
  const out: ParsedFlags = {
    tree: {}, origins: new Map(), configFile: undefined, master: undefined, podCIDRFile: undefined,
    cleanup: false, help: false, writeConfigTo: undefined, warnings: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      const rest = argv.slice(i + 1).filter((a) => a !== '');
      if (rest.length > 0) throw new ProxyError('INVALID_CONFIG', `kpr proxy takes no arguments, got ${JSON.stringify(rest[0])}`);
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      if (arg === '') continue;
      throw new ProxyError('INVALID_CONFIG', `kpr proxy takes no arguments, got ${JSON.stringify(arg)}`);
    }
    const long = arg.startsWith('--');
    const body = arg.slice(long ? 2 : 1);
    const eq = body.indexOf('=');
    const rawName = eq < 0 ? body : body.slice(0, eq);
    const name = long ? rawName.replaceAll('_', '-') : SHORT[rawName];
    const spec = name === undefined ? undefined : FLAGS[name];
    if (name === undefined || spec === undefined) throw invalid(`${long ? '--' : '-'}${rawName}`, 'unknown flag');
    const flag = `--${name}`;
    let text = eq < 0 ? undefined : body.slice(eq + 1);
    if (text === undefined) {
      if (spec.kind === 'bool') text = 'true';
      else {
        text = argv[++i];
        if (text === undefined) throw invalid(flag, 'needs a value');
      }
    }
    if (spec.ignored) {
      out.warnings.push(`${flag} has no effect in kpr (logs are JSON on stderr)`);
      continue;
    }
    const previous = spec.paths?.[0] === undefined ? undefined : getPath(out.tree, spec.paths[0]);
    const value = convert(flag, spec.kind, text, previous);
    for (const path of spec.paths ?? []) {
      setPath(out.tree, path, value);
      out.origins.set(path, flag);
    }
    switch (spec.special) {
      case 'config': out.configFile = value as string; break;
      case 'master': out.master = value as string; break;
      case 'podCIDRFile': out.podCIDRFile = value as string; break;
      case 'cleanup': out.cleanup = value as boolean; break;
      case 'help': out.help = value as boolean; break;
      case 'writeConfigTo': out.writeConfigTo = value as string; break;
    }
  }
  return out;
}

/** The flag that sets a config path, to name it in errors when no file is involved. */
export function flagForPath(path: string): string | undefined {
  const hit = Object.entries(FLAGS).find(([, s]) => s.paths?.includes(path));
  return hit && `--${hit[0]}`;
}

/** One line per accepted flag, for `kpr proxy --help`. */
export function flagNames(): string[] {
  return Object.entries(FLAGS).filter(([, s]) => !s.ignored).map(([name, s]) => `--${name}${s.kind === 'bool' ? '' : ` ${s.kind}`}`);
}
