// `kpr proxy` configuration: kube-proxy's flags over its KubeProxyConfiguration file,
// validated, defaulted as kube-proxy does, and resolved for the chosen mode into one
// plain ProxyConfig (durations in milliseconds, addresses parsed and normalised).
import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import type * as z from 'zod';
import { errorMessage, KprError } from '../../lib/errors.ts';
import { ipFamily, normalizeCIDR, normalizeIP } from '../../lib/ip.ts';
import { flagForPath, flagNames, parseFlags } from './flags.ts';
import {
  kubeProxyConfigurationSchema, readConfigFile,
  type KubeProxyConfigurationFields, type LOCAL_MODES, type PROXY_MODES, type RawTree,
} from './file.ts';
import { parseBindAddress, type BindAddress } from '../../lib/http-server.ts';
import { ProxyError } from '../errors.ts';

export type ProxyMode = (typeof PROXY_MODES)[number];
export type DetectLocalMode = (typeof LOCAL_MODES)[number];

export interface ProxyConfig {
  mode: ProxyMode;
  /** --cleanup: remove the proxy rules of every mode and exit. */
  cleanup: boolean;
  /** --help: print usage and exit. */
  help: boolean;
  /** --write-config-to: write this configuration to the file and exit. */
  writeConfigTo: string | undefined;
  /** --config: the KubeProxyConfiguration file read, if any (kpr proxy exits when it changes). */
  configFile: string | undefined;
  /** --pod-cidr-file (kpr's own): write this Node's pod CIDRs there for kpr-ipam; '' = don't. */
  podCIDRFile: string;
  /** Path of a kubeconfig; '' means in-cluster configuration. */
  kubeconfig: string;
  /** --master: API server URL overriding the kubeconfig's; '' = none. */
  master: string;
  /** This node's name: hostnameOverride or the hostname, trimmed and lowercased. */
  hostname: string;
  /** The node's primary IP as configured; an unspecified address means "take it from the Node". */
  bindAddress: string;
  /** Exit when the healthz or metrics address cannot be bound. */
  bindAddressHardFail: boolean;
  /** /healthz and /livez; null = disabled (--healthz-bind-address=""). */
  healthzBindAddress: BindAddress | null;
  /** /metrics; null = disabled (--metrics-bind-address=""). */
  metricsBindAddress: BindAddress | null;
  /** Pod CIDRs, at most one per family, normalised. */
  clusterCIDRs: string[];
  detectLocalMode: DetectLocalMode;
  detectLocal: { bridgeInterface: string; interfaceNamePrefix: string };
  /** Node IPs that accept NodePorts: the Node's primary IPs and/or these CIDRs (0.0.0.0/0, ::/0 = all). */
  nodePortAddresses: { primary: boolean; cidrs: string[] };
  /** The chosen mode's syncPeriod (full resync interval; health timeout is twice this). */
  syncPeriodMs: number;
  /** The chosen mode's minSyncPeriod (least time between sync starts). */
  minSyncPeriodMs: number;
  masqueradeAll: boolean;
  /** Bit of the fwmark that marks packets to masquerade (14 → 0x4000). */
  masqueradeBit: number;
  /** iptables mode, IPv4: accept NodePorts on 127.0.0.1 (route_localnet). */
  localhostNodePorts: boolean;
  ipvs: {
    scheduler: IpvsScheduler;
    strictARP: boolean;
    excludeCIDRs: string[];
    /** 0 = leave the kernel's value. */
    tcpTimeoutMs: number;
    tcpFinTimeoutMs: number;
    udpTimeoutMs: number;
  };
  conntrack: {
    /** 0 = leave nf_conntrack_max alone (and ignore min). */
    maxPerCore: number;
    min: number;
    /** 0 = leave the kernel's value (likewise for the other timeouts). */
    tcpEstablishedTimeoutMs: number;
    tcpCloseWaitTimeoutMs: number;
    tcpBeLiberal: boolean;
    udpTimeoutMs: number;
    udpStreamTimeoutMs: number;
  };
  configSyncPeriodMs: number;
  oomScoreAdj: number;
  featureGates: Record<string, boolean>;
  /** klog-style verbosity (--v). */
  verbosity: number;
  /** The pino level for `verbosity`. */
  logLevel: 'info' | 'debug' | 'trace';
  logFormat: 'text' | 'json';
  /** Settings accepted for compatibility that have no effect in kpr; log them at startup. */
  warnings: string[];
}

const HEALTHZ_PORT = 10256;
const METRICS_PORT = 10249;
/** IPVS schedulers kube-proxy accepts (--ipvs-scheduler). */
export const IPVS_SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh'] as const;
export type IpvsScheduler = (typeof IPVS_SCHEDULERS)[number];
const isScheduler = (s: string): s is IpvsScheduler => (IPVS_SCHEDULERS as readonly string[]).includes(s);

/** Settings kube-proxy accepts that change nothing here: warn when set to a non-zero value. */
const NO_EFFECT: [path: string, why: string][] = [
  ['winkernel', 'Windows only'],
  ['windowsRunAsService', 'Windows only'],
  ['portRange', 'unused since the userspace proxy was removed'],
  ['enableProfiling', 'not supported'],
  ['showHiddenMetricsForVersion', 'no metrics are hidden'],
  ['iptables.snatNodeInternalIP', 'not supported'],
  ['featureGates', 'kpr has no feature gates'],
  ['clientConnection.qps', 'no client-side rate limiting'],
  ['clientConnection.burst', 'no client-side rate limiting'],
  ['clientConnection.contentType', 'the API is always read as JSON'],
  ['clientConnection.acceptContentTypes', 'the API is always read as JSON'],
];

type Where = (path: string) => string;

interface Problem {
  where: string;
  message: string;
}

function fail(problems: Problem[]): never {
  // A flag that sets two fields (iptables and nftables) reports its problem once.
  const lines = [...new Set(problems.map((p) => `${p.where}: ${p.message}`))];
  const [first] = problems;
  if (lines.length === 1 && first) throw new ProxyError('INVALID_CONFIG', first.message, { object: first.where });
  throw new ProxyError('INVALID_CONFIG', lines.join('; '));
}

function lookup(tree: unknown, path: string): unknown {
  if (path === '') return tree;
  let node = tree;
  for (const key of path.split('.')) node = (node as RawTree | undefined)?.[key];
  return node;
}

function isSet(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object' && v !== null) return Object.values(v).some(isSet);
  return v !== undefined && v !== '' && v !== false && v !== 0;
}

/** Flags override the file field by field; lists and scalars replace whole. */
function overlay(base: RawTree, top: RawTree): RawTree {
  const out: RawTree = { ...base };
  for (const [k, v] of Object.entries(top)) {
    const b = out[k];
    const bothTrees = [b, v].every((x) => typeof x === 'object' && x !== null && !Array.isArray(x));
    out[k] = bothTrees ? overlay(b as RawTree, v as RawTree) : v;
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    const article: Record<string, string> = { array: 'a list', object: 'an object', record: 'a map', int: 'an integer' };
    return `must be ${article[issue.expected] ?? `a ${issue.expected}`}`;
  }
  return issue.message;
}

/** Validates the merged tree; unknown fields are dropped with a warning, as kube-proxy's lenient decoding does. */
function validate(tree: RawTree, where: Where, warnings: string[]): KubeProxyConfigurationFields {
  const first = kubeProxyConfigurationSchema.safeParse(tree);
  if (first.success) return first.data;
  const unknown = first.error.issues.filter((i) => i.code === 'unrecognized_keys');
  const other = first.error.issues.filter((i) => i.code !== 'unrecognized_keys');
  if (other.length > 0) fail(other.map((i) => ({ where: where(i.path.join('.')), message: describeIssue(i) })));
  const cleaned = structuredClone(tree);
  for (const issue of unknown) {
    const parent = lookup(cleaned, issue.path.join('.'));
    for (const key of issue.keys) {
      delete (parent as RawTree)[key];
      warnings.push(`${where([...issue.path, key].join('.'))}: unknown field, ignored`);
    }
  }
  return kubeProxyConfigurationSchema.parse(cleaned);
}

function logLevelOf(verbosity: number): ProxyConfig['logLevel'] {
  return verbosity >= 5 ? 'trace' : verbosity >= 3 ? 'debug' : 'info';
}

/** Defaults (as kube-proxy's) and cross-field rules, over validated fields. */
function resolve(
  f: KubeProxyConfigurationFields, where: Where, fromFile: (path: string) => boolean, machineHostname: string,
): Omit<ProxyConfig, 'cleanup' | 'help' | 'writeConfigTo' | 'configFile' | 'master' | 'warnings' | 'podCIDRFile'> {
  const problems: Problem[] = [];
  const problem = (path: string, message: string) => problems.push({ where: where(path), message });
  // kubeadm writes "0s" for unset periods; kube-proxy's defaulting reads a zero period in the file as unset.
  const period = (path: string, value: number | undefined) => (value === 0 && fromFile(path) ? undefined : value);

  const mode: ProxyMode = f.mode || 'iptables';
  const section = mode === 'ipvs' ? 'ipvs' : mode === 'nftables' ? 'nftables' : 'iptables';
  const syncPeriodMs = period(`${section}.syncPeriod`, f[section]?.syncPeriod) ?? 30_000;
  const minSyncPeriodMs = period(`${section}.minSyncPeriod`, f[section]?.minSyncPeriod) ?? 1000;
  if (syncPeriodMs <= 0) problem(`${section}.syncPeriod`, 'must be greater than 0');
  else if (minSyncPeriodMs > syncPeriodMs) problem(`${section}.minSyncPeriod`, 'must not be longer than syncPeriod');

  const bindAddress = f.bindAddress ? normalizeIP(f.bindAddress) : '0.0.0.0';
  if (bindAddress === undefined) problem('bindAddress', `${JSON.stringify(f.bindAddress)} is not an IP address`);
  const v6 = ipFamily(bindAddress ?? '0.0.0.0') === 6;
  const bindOf = (path: 'healthzBindAddress' | 'metricsBindAddress', defaultHost: string, port: number): BindAddress | null => {
    const text = f[path];
    // An explicitly empty flag disables the server; an empty file field means the default.
    if (text === '' && !fromFile(path)) return null;
    const parsed = parseBindAddress(text || defaultHost, port);
    if (typeof parsed === 'string') {
      problem(path, parsed);
      return null;
    }
    return parsed;
  };
  const healthzBindAddress = bindOf('healthzBindAddress', v6 ? '[::]' : '0.0.0.0', HEALTHZ_PORT);
  const metricsBindAddress = bindOf('metricsBindAddress', v6 ? '[::1]' : '127.0.0.1', METRICS_PORT);

  const cidrList = (path: string, items: readonly string[]): string[] =>
    items.flatMap((item) => {
      const cidr = normalizeCIDR(item);
      if (cidr === undefined) problem(path, `${JSON.stringify(item)} is not a CIDR`);
      return cidr === undefined ? [] : [cidr];
    });
  const clusterCIDRs = cidrList('clusterCIDR', (f.clusterCIDR ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''));
  if (clusterCIDRs.length > 2) problem('clusterCIDR', 'must hold at most two CIDRs, one per IP family');
  else if (clusterCIDRs.length === 2 && ipFamily(clusterCIDRs[0]?.split('/')[0] ?? '') === ipFamily(clusterCIDRs[1]?.split('/')[0] ?? '')) {
    problem('clusterCIDR', 'two CIDRs must be one IPv4 and one IPv6');
  }

  const npa = f.nodePortAddresses ?? [];
  const nodePortAddresses = npa.length === 0
    // Unset means every local address, except in nftables mode where it means the primary IPs.
    ? (mode === 'nftables' ? { primary: true, cidrs: [] } : { primary: false, cidrs: ['0.0.0.0/0', '::/0'] })
    : {
        primary: npa.includes('primary'),
        cidrs: [...new Set(cidrList('nodePortAddresses', npa.flatMap((a) =>
          a === 'primary' ? [] : a === 'localhost' ? ['127.0.0.0/8', '::1/128'] : a === 'all' ? ['0.0.0.0/0', '::/0'] : [a])))],
      };

  const detectLocalMode: DetectLocalMode = f.detectLocalMode || 'ClusterCIDR';
  const detectLocal = { bridgeInterface: f.detectLocal?.bridgeInterface ?? '', interfaceNamePrefix: f.detectLocal?.interfaceNamePrefix ?? '' };
  if (detectLocalMode === 'BridgeInterface' && detectLocal.bridgeInterface === '') problem('detectLocal.bridgeInterface', 'must be set when detectLocalMode is BridgeInterface');
  if (detectLocalMode === 'InterfaceNamePrefix' && detectLocal.interfaceNamePrefix === '') problem('detectLocal.interfaceNamePrefix', 'must be set when detectLocalMode is InterfaceNamePrefix');

  const rawScheduler = f.ipvs?.scheduler || 'rr';
  if (!isScheduler(rawScheduler)) problem('ipvs.scheduler', `${JSON.stringify(rawScheduler)} is not one of ${IPVS_SCHEDULERS.join(', ')}`);
  const scheduler: IpvsScheduler = isScheduler(rawScheduler) ? rawScheduler : 'rr';

  const configSyncPeriodMs = period('configSyncPeriod', f.configSyncPeriod) ?? 15 * 60_000;
  if (configSyncPeriodMs <= 0) problem('configSyncPeriod', 'must be greater than 0');

  const result = {
    mode,
    kubeconfig: f.clientConnection?.kubeconfig ?? '',
    hostname: (f.hostnameOverride?.trim() || machineHostname).trim().toLowerCase(),
    bindAddress: bindAddress ?? '0.0.0.0',
    bindAddressHardFail: f.bindAddressHardFail ?? false,
    healthzBindAddress,
    metricsBindAddress,
    clusterCIDRs,
    detectLocalMode,
    detectLocal,
    nodePortAddresses,
    syncPeriodMs,
    minSyncPeriodMs,
    masqueradeAll: (mode === 'nftables' && f.nftables?.masqueradeAll) || (f.iptables?.masqueradeAll ?? false),
    masqueradeBit: (mode === 'nftables' ? f.nftables?.masqueradeBit : undefined) ?? f.iptables?.masqueradeBit ?? 14,
    localhostNodePorts: f.iptables?.localhostNodePorts ?? true,
    ipvs: {
      scheduler,
      strictARP: f.ipvs?.strictARP ?? false,
      excludeCIDRs: cidrList('ipvs.excludeCIDRs', f.ipvs?.excludeCIDRs ?? []),
      tcpTimeoutMs: f.ipvs?.tcpTimeout ?? 0,
      tcpFinTimeoutMs: f.ipvs?.tcpFinTimeout ?? 0,
      udpTimeoutMs: f.ipvs?.udpTimeout ?? 0,
    },
    conntrack: {
      maxPerCore: f.conntrack?.maxPerCore ?? 32 * 1024,
      min: f.conntrack?.min ?? 128 * 1024,
      tcpEstablishedTimeoutMs: f.conntrack?.tcpEstablishedTimeout ?? 24 * 3600_000,
      tcpCloseWaitTimeoutMs: f.conntrack?.tcpCloseWaitTimeout ?? 3600_000,
      tcpBeLiberal: f.conntrack?.tcpBeLiberal ?? false,
      udpTimeoutMs: f.conntrack?.udpTimeout ?? 0,
      udpStreamTimeoutMs: f.conntrack?.udpStreamTimeout ?? 0,
    },
    configSyncPeriodMs,
    oomScoreAdj: f.oomScoreAdj ?? -999,
    featureGates: f.featureGates ?? {},
    verbosity: f.logging?.verbosity ?? 0,
    logLevel: logLevelOf(f.logging?.verbosity ?? 0),
    logFormat: f.logging?.format || 'text',
  };
  if (problems.length > 0) fail(problems);
  return result;
}

export interface ParseProxyArgsOptions {
  /** The machine's hostname (default: os.hostname()). */
  hostname?: string;
}

/**
 * Parses `kpr proxy`'s arguments (kube-proxy's flags, plus the --config file they
 * override) into a complete ProxyConfig. Throws KprError INVALID_CONFIG naming the flag
 * or the file and field at fault.
 */
export function parseProxyArgs(
  argv: readonly string[],
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
  opts: ParseProxyArgsOptions = {},
): ProxyConfig {
  const flags = parseFlags(argv);
  const fileName = flags.configFile || undefined;
  let fileTree: RawTree = {};
  if (fileName !== undefined) {
    let text: string;
    try {
      text = readFile(fileName);
    } catch (err) {
      throw new ProxyError('INVALID_CONFIG', `cannot read: ${errorMessage(err)}`, { object: fileName, cause: err });
    }
    fileTree = readConfigFile(text, fileName);
  }
  const originOf = (path: string): string | undefined => {
    for (let p = path; p !== ''; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
      const flag = flags.origins.get(p);
      if (flag) return flag;
    }
    return undefined;
  };
  const where: Where = (path) => originOf(path) ?? (fileName !== undefined ? `${fileName}: ${path}` : (flagForPath(path) ?? path));
  const fromFile = (path: string) => fileName !== undefined && originOf(path) === undefined;

  const warnings = [...flags.warnings];
  const fields = validate(overlay(fileTree, flags.tree), where, warnings);
  for (const [path, why] of NO_EFFECT) {
    if (isSet(lookup(fields, path))) warnings.push(`${where(path)}: has no effect in kpr (${why})`);
  }
  return {
    ...resolve(fields, where, fromFile, opts.hostname ?? osHostname()),
    master: flags.master ?? '',
    podCIDRFile: flags.podCIDRFile ?? '',
    cleanup: flags.cleanup,
    help: flags.help,
    writeConfigTo: flags.writeConfigTo,
    configFile: fileName,
    warnings,
  };
}

/** Usage text for `kpr proxy --help`. */
export function proxyUsage(): string {
  return `usage: kpr proxy [flags]\n\nkube-proxy's flags (a flag overrides the --config file):\n${flagNames().map((f) => `  ${f}`).join('\n')}\n`;
}
