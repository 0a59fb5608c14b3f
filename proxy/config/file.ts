// kube-proxy's configuration file (KubeProxyConfiguration, kubeproxy.config.k8s.io/v1alpha1):
// its fields as a zod schema, loading from YAML or JSON, and writing one back out.
// Field-level checks live here; defaults and cross-field rules live in config.ts.
import { loadYaml } from '@kubernetes/client-node';
import * as z from 'zod';
import { errorMessage, KprError } from '../../lib/errors.ts';
import type { ProxyConfig } from './config.ts';
import { formatGoDuration, parseGoDuration } from '../../lib/duration.ts';
import { formatBindAddress, type BindAddress } from '../../lib/http-server.ts';
import { ProxyError } from '../errors.ts';

export const API_VERSION = 'kubeproxy.config.k8s.io/v1alpha1';
export const KIND = 'KubeProxyConfiguration';

/** A Go duration string, read as milliseconds. */
const duration = z.string().transform((s, ctx) => {
  const ms = parseGoDuration(s);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a duration` });
    return z.NEVER;
  }
  if (ms < 0) {
    ctx.addIssue({ code: 'custom', message: `"${s}" must not be negative` });
    return z.NEVER;
  }
  return ms;
});

const int = (min: number, max: number) =>
  z.number().int('must be an integer').min(min, `must be between ${min} and ${max}`).max(max, `must be between ${min} and ${max}`);

const INT32_MAX = 2 ** 31 - 1;

/** One of `values` ('' meaning unset), naming the offending value. */
const oneOf = <const T extends readonly string[]>(values: T) =>
  z.enum(['', ...values], { error: (iss) => `${JSON.stringify(iss.input)} is not one of ${values.join(', ')}` });

export const PROXY_MODES = ['iptables', 'ipvs', 'nftables'] as const;
export const LOCAL_MODES = ['ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix'] as const;

/** Fields the iptables and nftables sections share. */
const natSection = {
  masqueradeBit: int(0, 31),
  masqueradeAll: z.boolean(),
  syncPeriod: duration,
  minSyncPeriod: duration,
};

/** Every KubeProxyConfiguration field (apiVersion and kind are checked on load), all optional. */
export const kubeProxyConfigurationSchema = z.strictObject({
  featureGates: z.record(z.string(), z.boolean()),
  clientConnection: z.strictObject({
    kubeconfig: z.string(),
    acceptContentTypes: z.string(),
    contentType: z.string(),
    qps: z.number().min(0, 'must not be negative'),
    burst: int(0, INT32_MAX),
  }).partial(),
  // LoggingConfiguration has many knobs (flush frequency, vmodule, options); we read two.
  logging: z.looseObject({
    format: oneOf(['text', 'json']).optional(),
    verbosity: int(0, INT32_MAX).optional(),
  }),
  hostnameOverride: z.string(),
  bindAddress: z.string(),
  healthzBindAddress: z.string(),
  metricsBindAddress: z.string(),
  bindAddressHardFail: z.boolean(),
  enableProfiling: z.boolean(),
  showHiddenMetricsForVersion: z.string(),
  mode: oneOf(PROXY_MODES),
  iptables: z.strictObject({ ...natSection, localhostNodePorts: z.boolean(), snatNodeInternalIP: z.boolean() }).partial(),
  ipvs: z.strictObject({
    syncPeriod: duration,
    minSyncPeriod: duration,
    scheduler: z.string(),
    excludeCIDRs: z.array(z.string()),
    strictARP: z.boolean(),
    tcpTimeout: duration,
    tcpFinTimeout: duration,
    udpTimeout: duration,
  }).partial(),
  nftables: z.strictObject(natSection).partial(),
  winkernel: z.looseObject({}),
  detectLocalMode: oneOf(LOCAL_MODES),
  detectLocal: z.strictObject({ bridgeInterface: z.string(), interfaceNamePrefix: z.string() }).partial(),
  clusterCIDR: z.string(),
  nodePortAddresses: z.array(z.string()),
  oomScoreAdj: int(-1000, 1000),
  conntrack: z.strictObject({
    maxPerCore: int(0, INT32_MAX),
    min: int(0, INT32_MAX),
    tcpEstablishedTimeout: duration,
    tcpCloseWaitTimeout: duration,
    tcpBeLiberal: z.boolean(),
    udpTimeout: duration,
    udpStreamTimeout: duration,
  }).partial(),
  configSyncPeriod: duration,
  portRange: z.string(),
  windowsRunAsService: z.boolean(),
}).partial();

/** The file's fields, validated; durations in milliseconds. */
export type KubeProxyConfigurationFields = z.output<typeof kubeProxyConfigurationSchema>;

/** A JSON-like tree as read from YAML/JSON or built from flags, before validation. */
export type RawTree = Record<string, unknown>;

function isTree(v: unknown): v is RawTree {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** YAML `field:` with no value is null; Go reads that as the zero value, i.e. unset. */
function dropNulls(tree: RawTree): RawTree {
  const out: RawTree = {};
  for (const [k, v] of Object.entries(tree)) {
    if (v === null || v === undefined) continue;
    out[k] = isTree(v) ? dropNulls(v) : v;
  }
  return out;
}

/**
 * Reads a KubeProxyConfiguration file's text (YAML or JSON) into a raw tree without
 * apiVersion/kind, which must name v1alpha1 KubeProxyConfiguration.
 */
export function readConfigFile(text: string, fileName: string): RawTree {
  let doc: unknown;
  try {
    doc = loadYaml<unknown>(text);
  } catch (err) {
    throw new ProxyError('INVALID_CONFIG', `cannot parse: ${errorMessage(err)}`, { object: fileName, cause: err });
  }
  if (!isTree(doc)) throw new ProxyError('INVALID_CONFIG', 'must be a KubeProxyConfiguration object', { object: fileName });
  const { apiVersion, kind, ...fields } = doc;
  if (apiVersion !== API_VERSION) {
    throw new ProxyError('INVALID_CONFIG', `apiVersion: ${JSON.stringify(apiVersion ?? '')} is not supported (want ${API_VERSION})`, { object: fileName });
  }
  if (kind !== KIND) {
    throw new ProxyError('INVALID_CONFIG', `kind: ${JSON.stringify(kind ?? '')} is not supported (want ${KIND})`, { object: fileName });
  }
  return dropNulls(fields);
}

/** `cfg` as a KubeProxyConfiguration file (JSON, which YAML readers also accept), for --write-config-to. */
/** The effective configuration as a KubeProxyConfiguration object (`--write-config-to`, `/configz`). */
export function kubeProxyConfiguration(cfg: ProxyConfig): Record<string, unknown> {
  const d = formatGoDuration;
  // "All addresses" is written as kube-proxy spells it; reading maps it back.
  const bind = (b: BindAddress | null) => (b ? formatBindAddress({ host: b.host ?? '0.0.0.0', port: b.port }) : '');
  const sync = { syncPeriod: d(cfg.syncPeriodMs), minSyncPeriod: d(cfg.minSyncPeriodMs) };
  const masq = { masqueradeAll: cfg.masqueradeAll, masqueradeBit: cfg.masqueradeBit };
  const doc = {
    apiVersion: API_VERSION,
    kind: KIND,
    featureGates: cfg.featureGates,
    clientConnection: { kubeconfig: cfg.kubeconfig },
    logging: { format: cfg.logFormat, verbosity: cfg.verbosity },
    hostnameOverride: cfg.hostname,
    bindAddress: cfg.bindAddress,
    healthzBindAddress: bind(cfg.healthzBindAddress),
    metricsBindAddress: bind(cfg.metricsBindAddress),
    bindAddressHardFail: cfg.bindAddressHardFail,
    mode: cfg.mode,
    iptables: { ...masq, ...sync, localhostNodePorts: cfg.localhostNodePorts },
    ipvs: {
      ...(cfg.mode === 'ipvs' ? sync : {}),
      scheduler: cfg.ipvs.scheduler,
      excludeCIDRs: cfg.ipvs.excludeCIDRs,
      strictARP: cfg.ipvs.strictARP,
      tcpTimeout: d(cfg.ipvs.tcpTimeoutMs),
      tcpFinTimeout: d(cfg.ipvs.tcpFinTimeoutMs),
      udpTimeout: d(cfg.ipvs.udpTimeoutMs),
    },
    nftables: { ...masq, ...sync },
    detectLocalMode: cfg.detectLocalMode,
    detectLocal: cfg.detectLocal,
    clusterCIDR: cfg.clusterCIDRs.join(','),
    nodePortAddresses: [...(cfg.nodePortAddresses.primary ? ['primary'] : []), ...cfg.nodePortAddresses.cidrs],
    oomScoreAdj: cfg.oomScoreAdj,
    conntrack: {
      maxPerCore: cfg.conntrack.maxPerCore,
      min: cfg.conntrack.min,
      tcpEstablishedTimeout: d(cfg.conntrack.tcpEstablishedTimeoutMs),
      tcpCloseWaitTimeout: d(cfg.conntrack.tcpCloseWaitTimeoutMs),
      tcpBeLiberal: cfg.conntrack.tcpBeLiberal,
      udpTimeout: d(cfg.conntrack.udpTimeoutMs),
      udpStreamTimeout: d(cfg.conntrack.udpStreamTimeoutMs),
    },
    configSyncPeriod: d(cfg.configSyncPeriodMs),
  };
  return doc;
}

export function formatKubeProxyConfiguration(cfg: ProxyConfig): string {
  return `${JSON.stringify(kubeProxyConfiguration(cfg), null, 2)}\n`;
}
