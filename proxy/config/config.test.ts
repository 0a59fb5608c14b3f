import { describe, expect, it } from 'vitest';
import { formatKubeProxyConfiguration } from './file.ts';
import { parseProxyArgs, proxyUsage, type ProxyConfig } from './config.ts';
import { isProxyError } from '../errors.ts';

function parse(argv: string[], files: Record<string, string> = {}): ProxyConfig {
  return parseProxyArgs(argv, (p) => {
    const text = files[p];
    if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${p}'`);
    return text;
  }, { hostname: 'Node-1.Example' });
}

function errorOf(argv: string[], files: Record<string, string> = {}): string {
  try {
    parse(argv, files);
  } catch (err) {
    expect(isProxyError(err, 'INVALID_CONFIG'), String(err)).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

const HEADER = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n';

const DEFAULTS: ProxyConfig = {
  mode: 'iptables',
  cleanup: false,
  help: false,
  writeConfigTo: undefined,
  configFile: undefined,
  podCIDRFile: '',
  kubeconfig: '',
  master: '',
  hostname: 'node-1.example',
  bindAddress: '0.0.0.0',
  bindAddressHardFail: false,
  healthzBindAddress: { host: undefined, port: 10256 },
  metricsBindAddress: { host: '127.0.0.1', port: 10249 },
  clusterCIDRs: [],
  detectLocalMode: 'ClusterCIDR',
  detectLocal: { bridgeInterface: '', interfaceNamePrefix: '' },
  nodePortAddresses: { primary: false, cidrs: ['0.0.0.0/0', '::/0'] },
  syncPeriodMs: 30_000,
  minSyncPeriodMs: 1000,
  masqueradeAll: false,
  masqueradeBit: 14,
  localhostNodePorts: true,
  ipvs: { scheduler: 'rr', strictARP: false, excludeCIDRs: [], tcpTimeoutMs: 0, tcpFinTimeoutMs: 0, udpTimeoutMs: 0 },
  conntrack: {
    maxPerCore: 32768, min: 131072, tcpEstablishedTimeoutMs: 86_400_000, tcpCloseWaitTimeoutMs: 3_600_000,
    tcpBeLiberal: false, udpTimeoutMs: 0, udpStreamTimeoutMs: 0,
  },
  configSyncPeriodMs: 900_000,
  oomScoreAdj: -999,
  featureGates: {},
  verbosity: 0,
  logLevel: 'info',
  logFormat: 'text',
  warnings: [],
};

// What kubeadm writes into the kube-proxy ConfigMap: zero periods and nulls mean "default".
const KUBEADM = `${HEADER}bindAddress: 0.0.0.0
bindAddressHardFail: false
clientConnection:
  acceptContentTypes: ""
  burst: 0
  contentType: ""
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 0
clusterCIDR: 10.244.0.0/16
configSyncPeriod: 0s
conntrack:
  maxPerCore: null
  min: null
  tcpBeLiberal: false
  tcpCloseWaitTimeout: null
  tcpEstablishedTimeout: null
  udpStreamTimeout: 0s
  udpTimeout: 0s
detectLocal:
  bridgeInterface: ""
  interfaceNamePrefix: ""
detectLocalMode: ""
enableProfiling: false
healthzBindAddress: ""
hostnameOverride: ""
iptables:
  localhostNodePorts: null
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
ipvs:
  excludeCIDRs: null
  minSyncPeriod: 0s
  scheduler: ""
  strictARP: false
  syncPeriod: 0s
  tcpFinTimeout: 0s
  tcpTimeout: 0s
  udpTimeout: 0s
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: "0"
    text:
      infoBufferSize: "0"
  verbosity: 0
metricsBindAddress: ""
mode: ""
nftables:
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
nodePortAddresses: null
oomScoreAdj: null
portRange: ""
showHiddenMetricsForVersion: ""
winkernel:
  enableDSR: false
  forwardHealthCheckVip: false
  networkName: ""
  rootHnsEndpointName: ""
  sourceVip: ""
`;

describe('parseProxyArgs: flags', () => {
  it('defaults everything as kube-proxy does on Linux', () => {
    expect(parse([])).toEqual(DEFAULTS);
  });

  it('accepts --flag=value, --flag value, bare and explicit booleans, -v and underscores', () => {
    const cfg = parse([
      '--proxy-mode', 'nftables', '--hostname-override=Worker-7', '--masquerade-all', '--iptables-localhost-nodeports=false',
      '-v=4', '--kubeconfig', '/etc/kpr/kubeconfig', '--master=https://10.0.0.1:6443', '--conntrack_min=1000', '--cleanup',
    ]);
    expect(cfg).toMatchObject({
      mode: 'nftables', hostname: 'worker-7', masqueradeAll: true, localhostNodePorts: false, verbosity: 4, logLevel: 'debug',
      kubeconfig: '/etc/kpr/kubeconfig', master: 'https://10.0.0.1:6443', cleanup: true,
    });
    expect(cfg.conntrack.min).toBe(1000);
    expect(parse(['--masquerade-all=false']).masqueradeAll).toBe(false);
    expect(parse(['--v', '6']).logLevel).toBe('trace');
    expect(parse(['-h']).help).toBe(true);
  });

  it('reads Go durations into milliseconds and honours an explicit zero minSyncPeriod', () => {
    const cfg = parse(['--iptables-sync-period=1m0s', '--iptables-min-sync-period=0', '--conntrack-tcp-timeout-established', '2h30m', '--config-sync-period=500ms']);
    expect(cfg).toMatchObject({ syncPeriodMs: 60_000, minSyncPeriodMs: 0, configSyncPeriodMs: 500 });
    expect(cfg.conntrack.tcpEstablishedTimeoutMs).toBe(9_000_000);
  });

  it('applies the iptables sync and masquerade flags to nftables mode, and the ipvs ones to ipvs mode', () => {
    expect(parse(['--proxy-mode=nftables', '--iptables-sync-period=10s', '--iptables-masquerade-bit=5', '--ipvs-sync-period=5s']))
      .toMatchObject({ syncPeriodMs: 10_000, masqueradeBit: 5 });
    const ipvs = parse(['--proxy-mode=ipvs', '--iptables-sync-period=10s', '--ipvs-sync-period=5s', '--ipvs-min-sync-period=2s',
      '--ipvs-scheduler=wlc', '--ipvs-strict-arp', '--ipvs-tcp-timeout=900s', '--ipvs-tcpfin-timeout=2m', '--ipvs-udp-timeout=300s',
      '--ipvs-exclude-cidrs=10.1.0.0/16, 192.168.000.0/24', '--ipvs-exclude-cidrs=fd00::/64']);
    expect(ipvs).toMatchObject({ syncPeriodMs: 5000, minSyncPeriodMs: 2000 });
    expect(ipvs.ipvs).toEqual({
      scheduler: 'wlc', strictARP: true, excludeCIDRs: ['10.1.0.0/16', '192.168.0.0/24', 'fd00::/64'],
      tcpTimeoutMs: 900_000, tcpFinTimeoutMs: 120_000, udpTimeoutMs: 300_000,
    });
  });

  it('parses bind addresses: default port, IPv6 brackets, unspecified = all, empty = disabled', () => {
    expect(parse(['--healthz-bind-address=127.0.0.1', '--metrics-bind-address=[::1]:9999'])).toMatchObject({
      healthzBindAddress: { host: '127.0.0.1', port: 10256 }, metricsBindAddress: { host: '::1', port: 9999 },
    });
    expect(parse(['--metrics-bind-address=0.0.0.0:10249', '--healthz-bind-address='])).toMatchObject({
      metricsBindAddress: { host: undefined, port: 10249 }, healthzBindAddress: null,
    });
    expect(parse(['--bind-address=fd00::0001'])).toMatchObject({
      bindAddress: 'fd00::1', healthzBindAddress: { host: undefined, port: 10256 }, metricsBindAddress: { host: '::1', port: 10249 },
    });
    expect(errorOf(['--healthz-bind-address=1.2.3.4:99999'])).toBe('--healthz-bind-address: "1.2.3.4:99999" has an invalid port');
    expect(errorOf(['--metrics-bind-address=localhost:1'])).toBe('--metrics-bind-address: "localhost:1" is not an IP address with an optional port');
  });

  it('parses dual-stack cluster CIDRs and node port addresses', () => {
    const cfg = parse(['--cluster-cidr=10.244.0.0/16, fd00:10:244::/56', '--nodeport-addresses=primary,192.168.1.0/24,localhost']);
    expect(cfg.clusterCIDRs).toEqual(['10.244.0.0/16', 'fd00:10:244::/56']);
    expect(cfg.nodePortAddresses).toEqual({ primary: true, cidrs: ['192.168.1.0/24', '127.0.0.0/8', '::1/128'] });
    expect(parse(['--proxy-mode=nftables']).nodePortAddresses).toEqual({ primary: true, cidrs: [] });
    expect(parse(['--nodeport-addresses=all']).nodePortAddresses).toEqual({ primary: false, cidrs: ['0.0.0.0/0', '::/0'] });
    expect(errorOf(['--cluster-cidr=10.0.0.0/8,10.1.0.0/16'])).toBe('--cluster-cidr: two CIDRs must be one IPv4 and one IPv6');
    expect(errorOf(['--nodeport-addresses=10.0.0.0/33'])).toBe('--nodeport-addresses: "10.0.0.0/33" is not a CIDR');
  });

  it('names the flag at fault', () => {
    expect(errorOf(['--iptables-min-sync-period=abc'])).toBe('--iptables-min-sync-period: "abc" is not a duration');
    expect(errorOf(['--bogus=1'])).toBe('--bogus: unknown flag');
    expect(errorOf(['-x'])).toBe('-x: unknown flag');
    expect(errorOf(['--conntrack-min=lots'])).toBe('--conntrack-min: "lots" is not an integer');
    expect(errorOf(['--masquerade-all=maybe'])).toBe('--masquerade-all: "maybe" is not a boolean');
    expect(errorOf(['--proxy-mode=userspace'])).toBe('--proxy-mode: "userspace" is not one of iptables, ipvs, nftables');
    expect(errorOf(['--iptables-masquerade-bit=32'])).toBe('--iptables-masquerade-bit: must be between 0 and 31');
    expect(errorOf(['--kubeconfig'])).toBe('--kubeconfig: needs a value');
    expect(errorOf(['--ipvs-scheduler=fastest', '--proxy-mode=ipvs'])).toBe('--ipvs-scheduler: "fastest" is not one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, mh');
    expect(errorOf(['--iptables-sync-period=1s', '--iptables-min-sync-period=2s'])).toBe('--iptables-min-sync-period: must not be longer than syncPeriod');
    expect(errorOf(['--iptables-sync-period=0s'])).toBe('--iptables-sync-period: must be greater than 0');
    expect(errorOf(['--detect-local-mode=BridgeInterface'])).toBe('--pod-bridge-interface: must be set when detectLocalMode is BridgeInterface');
    expect(errorOf(['--feature-gates=A=yes'])).toBe('--feature-gates: "A=yes" is not a key=true|false pair');
    expect(errorOf(['stray'])).toBe('kpr proxy takes no arguments, got "stray"');
  });

  it('reports every problem at once', () => {
    expect(errorOf(['--oom-score-adj=5000', '--conntrack-max-per-core=-1'])).toBe(
      '--oom-score-adj: must be between -1000 and 1000; --conntrack-max-per-core: must be between 0 and 2147483647',
    );
  });

  it('accepts klog flags and settings without effect, with warnings', () => {
    const cfg = parse(['--logtostderr', '--alsologtostderr=true', '--log-dir', '/var/log', '--feature-gates=Foo=true,Bar=false', '--profiling', '--kube-api-qps=20']);
    expect(cfg.featureGates).toEqual({ Foo: true, Bar: false });
    expect(cfg.warnings).toEqual([
      '--logtostderr has no effect in kpr (logs are JSON on stderr)',
      '--alsologtostderr has no effect in kpr (logs are JSON on stderr)',
      '--log-dir has no effect in kpr (logs are JSON on stderr)',
      '--profiling: has no effect in kpr (not supported)',
      '--feature-gates: has no effect in kpr (kpr has no feature gates)',
      '--kube-api-qps: has no effect in kpr (no client-side rate limiting)',
    ]);
  });

  it('lists the flags in its usage', () => {
    expect(proxyUsage()).toContain('--iptables-min-sync-period duration');
    expect(proxyUsage()).toContain('--masquerade-all\n');
  });
});

describe('parseProxyArgs: config file', () => {
  const FILE = `${HEADER}mode: nftables
hostnameOverride: from-file
clusterCIDR: 10.244.0.0/16
nftables:
  masqueradeAll: true
  syncPeriod: 1m
  minSyncPeriod: 2s
conntrack:
  maxPerCore: 0
  tcpBeLiberal: true
detectLocalMode: InterfaceNamePrefix
detectLocal:
  interfaceNamePrefix: veth
clientConnection:
  kubeconfig: /var/lib/kube-proxy/kubeconfig
logging:
  format: json
  verbosity: 3
`;

  it('reads a YAML KubeProxyConfiguration', () => {
    const cfg = parse(['--config=/etc/kp.yaml'], { '/etc/kp.yaml': FILE });
    expect(cfg).toMatchObject({
      mode: 'nftables', hostname: 'from-file', clusterCIDRs: ['10.244.0.0/16'], masqueradeAll: true,
      syncPeriodMs: 60_000, minSyncPeriodMs: 2000, detectLocalMode: 'InterfaceNamePrefix',
      detectLocal: { bridgeInterface: '', interfaceNamePrefix: 'veth' }, kubeconfig: '/var/lib/kube-proxy/kubeconfig',
      logFormat: 'json', verbosity: 3, logLevel: 'debug', warnings: [],
    });
    expect(cfg.conntrack).toMatchObject({ maxPerCore: 0, min: 131072, tcpBeLiberal: true });
  });

  it('reads JSON too', () => {
    const json = JSON.stringify({ apiVersion: 'kubeproxy.config.k8s.io/v1alpha1', kind: 'KubeProxyConfiguration', mode: 'ipvs', ipvs: { scheduler: 'sh' } });
    expect(parse(['--config', 'kp.json'], { 'kp.json': json })).toMatchObject({ mode: 'ipvs', ipvs: { scheduler: 'sh' } });
  });

  it('lets a flag beat the file, field by field', () => {
    const cfg = parse(['--config=/etc/kp.yaml', '--proxy-mode=iptables', '--iptables-sync-period=45s', '--conntrack-min=5'], { '/etc/kp.yaml': FILE });
    expect(cfg).toMatchObject({ mode: 'iptables', syncPeriodMs: 45_000, hostname: 'from-file' });
    expect(cfg.conntrack).toMatchObject({ maxPerCore: 0, min: 5, tcpBeLiberal: true });
  });

  it('reads kubeadm\'s config with zero periods and nulls as defaults', () => {
    const cfg = parse(['--config=config.conf'], { 'config.conf': KUBEADM });
    expect(cfg).toEqual({ ...DEFAULTS, configFile: 'config.conf', kubeconfig: '/var/lib/kube-proxy/kubeconfig.conf', clusterCIDRs: ['10.244.0.0/16'] });
  });

  it('names the file and field at fault', () => {
    expect(errorOf(['--config=config.yaml'], { 'config.yaml': `${HEADER}iptables:\n  masqueradeBit: 40\n` }))
      .toBe('config.yaml: iptables.masqueradeBit: must be between 0 and 31');
    expect(errorOf(['--config=c.yaml'], { 'c.yaml': `${HEADER}iptables:\n  syncPeriod: soon\n` }))
      .toBe('c.yaml: iptables.syncPeriod: "soon" is not a duration');
    expect(errorOf(['--config=c.yaml'], { 'c.yaml': `${HEADER}iptables:\n  masqueradeAll: "yes"\n` }))
      .toBe('c.yaml: iptables.masqueradeAll: must be a boolean');
    expect(errorOf(['--config=c.yaml'], { 'c.yaml': `${HEADER}nodePortAddresses: 10.0.0.0/8\n` }))
      .toBe('c.yaml: nodePortAddresses: must be a list');
    expect(errorOf(['--config=c.yaml'], { 'c.yaml': `${HEADER}logging:\n  format: xml\n` }))
      .toBe('c.yaml: logging.format: "xml" is not one of text, json');
    expect(errorOf(['--config=c.yaml'], { 'c.yaml': `${HEADER}detectLocalMode: BridgeInterface\n` }))
      .toBe('c.yaml: detectLocal.bridgeInterface: must be set when detectLocalMode is BridgeInterface');
  });

  it('rejects other apiVersions and kinds, bad YAML and unreadable files', () => {
    expect(errorOf(['--config=c.yaml'], { 'c.yaml': 'apiVersion: kubeproxy.config.k8s.io/v1alpha2\nkind: KubeProxyConfiguration\n' }))
      .toBe('c.yaml: apiVersion: "kubeproxy.config.k8s.io/v1alpha2" is not supported (want kubeproxy.config.k8s.io/v1alpha1)');
    expect(errorOf(['--config=c.yaml'], { 'c.yaml': 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeletConfiguration\n' }))
      .toBe('c.yaml: kind: "KubeletConfiguration" is not supported (want KubeProxyConfiguration)');
    expect(errorOf(['--config=c.yaml'], { 'c.yaml': 'mode: [' })).toMatch(/^c\.yaml: cannot parse: /);
    expect(errorOf(['--config=c.yaml'], { 'c.yaml': '- 1\n' })).toBe('c.yaml: must be a KubeProxyConfiguration object');
    expect(errorOf(['--config=missing.yaml'])).toMatch(/^missing\.yaml: cannot read: ENOENT/);
  });

  it('ignores unknown fields with a warning, like kube-proxy\'s lenient decoding', () => {
    const cfg = parse(['--config=c.yaml'], { 'c.yaml': `${HEADER}udpIdleTimeout: 250ms\niptables:\n  syncPeriod: 10s\n  bogus: 1\nwinkernel:\n  networkName: l2bridge\n` });
    expect(cfg.syncPeriodMs).toBe(10_000);
    expect(cfg.warnings).toEqual([
      'c.yaml: iptables.bogus: unknown field, ignored',
      'c.yaml: udpIdleTimeout: unknown field, ignored',
      'c.yaml: winkernel: has no effect in kpr (Windows only)',
    ]);
  });

  it('round-trips through --write-config-to output', () => {
    for (const argv of [
      ['--config=/etc/kp.yaml'],
      ['--proxy-mode=ipvs', '--ipvs-sync-period=1h', '--ipvs-min-sync-period=1.5s', '--bind-address=fd00::1', '--nodeport-addresses=primary,10.0.0.0/8', '--healthz-bind-address=10.0.0.1:1234'],
      [],
    ]) {
      const cfg = parse(argv, { '/etc/kp.yaml': FILE });
      const again = parse(['--config=out.json'], { 'out.json': formatKubeProxyConfiguration(cfg) });
      expect(again).toEqual({ ...cfg, configFile: 'out.json' });
    }
  });
});
