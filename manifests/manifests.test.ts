// The shipped manifest's invariants: the objects an operator applies are complete, the
// DaemonSet wires what kpr needs on a node, and the files it installs are accepted by
// kpr's own parsers (the proxy's config, the CNI plugin's and the IPAM's).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import {
  loadAllYaml,
  type KubernetesObject, type V1ClusterRole, type V1ClusterRoleBinding, type V1ConfigMap, type V1Container, type V1DaemonSet,
} from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNetConf } from '../cni/config.ts';
import { parseIpamConfig } from '../ipam/config.ts';
import { parseNetworkArgs } from '../network/config.ts';
import { parseProxyArgs } from '../proxy/config/config.ts';

const objects: KubernetesObject[] = loadAllYaml(readFileSync(new URL('./kpr.yaml', import.meta.url), 'utf8'));

function find<T extends KubernetesObject>(kind: string, name: string): T {
  const found = objects.find((o) => o.kind === kind && o.metadata?.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in kpr.yaml`);
  return found as T;
}

const daemonSet = find<V1DaemonSet>('DaemonSet', 'kpr');
const podSpec = daemonSet.spec?.template.spec;
if (!podSpec) throw new Error('DaemonSet kpr has no pod template');
const configMap = find<V1ConfigMap>('ConfigMap', 'kpr-config');

function container(list: V1Container[] | undefined, name: string): V1Container {
  const c = list?.find((x) => x.name === name);
  if (!c) throw new Error(`no container ${name}`);
  return c;
}
const proxy = container(podSpec.containers, 'kpr');
const network = container(podSpec.containers, 'kpr-network');
const installCNI = container(podSpec.initContainers, 'install-cni');

/** The ConfigMap key a container sees at `path` (through a configMap volume mount). */
function configMapKeyAt(c: V1Container, path: string): string {
  const mount = c.volumeMounts?.find((m) => posix.dirname(path) === m.mountPath);
  const volume = podSpec?.volumes?.find((v) => v.name === mount?.name);
  expect(volume?.configMap?.name, `${path} in container ${c.name}`).toBe('kpr-config');
  const text = configMap.data?.[posix.basename(path)];
  if (text === undefined) throw new Error(`ConfigMap kpr-config has no key for ${path}`);
  return text;
}

/** The host path mounted at mountPath in container c. */
function hostPathAt(c: V1Container, mountPath: string): string | undefined {
  const mount = c.volumeMounts?.find((m) => m.mountPath === mountPath);
  return podSpec?.volumes?.find((v) => v.name === mount?.name)?.hostPath?.path;
}

describe('kpr.yaml', () => {
  it('every document is a named object in kube-system (cluster-scoped ones aside)', () => {
    expect(objects.map((o) => o.kind)).toEqual(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet']);
    for (const o of objects) {
      expect(o.apiVersion).toBeTruthy();
      expect(o.metadata?.name).toBeTruthy();
      if (!o.kind?.startsWith('Cluster')) expect(o.metadata?.namespace).toBe('kube-system');
    }
  });

  it('the ClusterRole grants what the proxy watches, bound to the DaemonSet\'s ServiceAccount', () => {
    const role = find<V1ClusterRole>('ClusterRole', 'kpr');
    const allows = (group: string, resource: string, verb: string) =>
      (role.rules ?? []).some((r) => r.apiGroups?.includes(group) && r.resources?.includes(resource) && r.verbs.includes(verb));
    for (const [group, resource] of [['', 'services'], ['discovery.k8s.io', 'endpointslices'], ['', 'nodes'], ['networking.k8s.io', 'servicecidrs']] as const) {
      expect(allows(group, resource, 'list'), resource).toBe(true);
      expect(allows(group, resource, 'watch'), resource).toBe(true);
    }
    expect(allows('', 'nodes', 'get')).toBe(true);
    // One write, kpr network's VTEP MAC annotations on its Node; no Events, nothing else.
    const writes = (role.rules ?? []).flatMap((r) => r.verbs.filter((v) => !['get', 'list', 'watch'].includes(v)).map((v) => `${r.resources?.join(',')}:${v}`));
    expect(writes).toEqual(['nodes:patch']);
    expect((role.rules ?? []).flatMap((r) => r.resources).sort()).toEqual(['endpointslices', 'nodes', 'servicecidrs', 'services']);

    const binding = find<V1ClusterRoleBinding>('ClusterRoleBinding', 'kpr');
    expect(binding.roleRef).toMatchObject({ kind: 'ClusterRole', name: 'kpr' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: podSpec.serviceAccountName, namespace: 'kube-system' }]);
    find('ServiceAccount', podSpec.serviceAccountName ?? '');
  });

  it('the DaemonSet runs on every node in the host network, as kube-proxy', () => {
    expect(podSpec.hostNetwork).toBe(true);
    expect(podSpec.serviceAccountName).toBe('kpr');
    expect(podSpec.priorityClassName).toBe('system-node-critical');
    expect(podSpec.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(daemonSet.spec?.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    expect(daemonSet.spec?.selector.matchLabels).toEqual(daemonSet.spec?.template.metadata?.labels);
    expect(proxy.securityContext?.privileged).toBe(true);
    expect(proxy.env?.find((e) => e.name === 'NODE_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('spec.nodeName');
  });

  it('takes only the API server\'s address from the kpr-api-server ConfigMap, not whatever else it holds', () => {
    // envFrom would import every key (NODE_OPTIONS too) into a privileged container.
    for (const c of [...podSpec.containers, ...(podSpec.initContainers ?? [])]) expect(c.envFrom, c.name).toBeUndefined();
    for (const key of ['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT']) {
      expect(proxy.env?.find((e) => e.name === key)?.valueFrom?.configMapKeyRef).toEqual({ name: 'kpr-api-server', key, optional: true });
    }
    expect(proxy.env?.map((e) => e.name)).toEqual(['NODE_NAME', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT']);
    expect(proxy.resources?.requests).toEqual({ cpu: '100m', memory: '64Mi' });
  });

  it('probes kpr\'s health server on 10256 and names its ports', () => {
    expect(proxy.livenessProbe?.httpGet).toMatchObject({ path: '/livez', port: 10256 });
    expect(proxy.readinessProbe?.httpGet).toMatchObject({ path: '/healthz', port: 10256 });
    // Metrics listen on loopback only (kube-proxy's default): no port to declare for them.
    expect(proxy.ports?.map((p) => [p.name, p.containerPort])).toEqual([['healthz', 10256]]);
  });

  it('mounts the xtables lock, kernel modules and the CNI directories from the host', () => {
    const xtables = podSpec.volumes?.find((v) => v.hostPath?.path === '/run/xtables.lock');
    expect(xtables?.hostPath?.type).toBe('FileOrCreate');
    expect(hostPathAt(proxy, '/run/xtables.lock')).toBe('/run/xtables.lock');
    expect(hostPathAt(proxy, '/lib/modules')).toBe('/lib/modules');
    expect(proxy.volumeMounts?.find((m) => m.mountPath === '/lib/modules')?.readOnly).toBe(true);
    // Only the IPAM store, not the rest of the runtime's CNI state (cache, results).
    expect(hostPathAt(proxy, '/var/lib/cni/networks')).toBe('/var/lib/cni/networks');
    expect(proxy.volumeMounts?.map((m) => m.mountPath).filter((p) => p.startsWith('/var/lib/cni'))).toEqual(['/var/lib/cni/networks']);
    expect(hostPathAt(proxy, '/run/kpr')).toBe('/run/kpr');
    expect(hostPathAt(installCNI, '/host/opt/cni/bin')).toBe('/opt/cni/bin');
    expect(hostPathAt(installCNI, '/host/etc/cni/net.d')).toBe('/etc/cni/net.d');
  });

  it('mounts the service account token in the kpr container only, never in install-cni', () => {
    const TOKEN_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
    expect(podSpec.automountServiceAccountToken).toBe(false);
    expect(installCNI.volumeMounts?.map((m) => m.mountPath)).toEqual(['/var/lib/kpr', '/host/opt/cni/bin', '/host/etc/cni/net.d']);
    const mount = proxy.volumeMounts?.find((m) => m.mountPath === TOKEN_DIR);
    expect(mount?.readOnly).toBe(true);
    // What the kubelet would have mounted, and what client-node's in-cluster configuration reads.
    const sources = podSpec.volumes?.find((v) => v.name === mount?.name)?.projected?.sources ?? [];
    expect(sources.find((x) => x.serviceAccountToken)?.serviceAccountToken?.path).toBe('token');
    expect(sources.find((x) => x.configMap)?.configMap).toEqual({ name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] });
    expect(sources.find((x) => x.downwardAPI)?.downwardAPI?.items).toEqual([{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }]);
  });

  it('both containers run the image `npm run image` tags, from package.json\'s version', () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(installCNI.image).toBe(`localhost/kpr:${version}`);
    expect(proxy.image).toBe(installCNI.image);
    // Loaded on the node (podman load, ctr import), not pulled.
    for (const c of [installCNI, proxy, network]) expect(c.imagePullPolicy, c.name).toBe('IfNotPresent');
    expect(network.image).toBe(installCNI.image);
  });

  it('install-cni installs kpr-cni, kpr-ipam, the two addons beside them and the conflist, each renamed into place', () => {
    const script = installCNI.command?.at(-1) ?? '';
    for (const name of ['kpr-cni', 'kpr-ipam', 'netlink.node', 'kpr-sys.node']) expect(script).toMatch(new RegExp(`mv -f "\\$bin/\\.${name}\\.tmp" "\\$bin/${name}"`));
    expect(script).toContain('mv -f "$conf/.10-kpr.conflist.tmp" "$conf/10-kpr.conflist"');
    configMapKeyAt(installCNI, '/var/lib/kpr/10-kpr.conflist');
  });

  it('kpr proxy accepts its command line and the KubeProxyConfiguration it points at', () => {
    expect(proxy.command?.slice(0, 2)).toEqual(['/usr/local/bin/kpr', 'proxy']);
    const argv = (proxy.command ?? []).slice(2).map((a) => a.replace('$(NODE_NAME)', 'node-a'));
    const configFile = argv.find((a) => a.startsWith('--config='))?.slice('--config='.length) ?? '';
    const text = configMapKeyAt(proxy, configFile);
    const cfg = parseProxyArgs(argv, (p) => {
      expect(p).toBe(configFile);
      return text;
    });
    expect(cfg.mode).toBe('iptables');
    expect(cfg.hostname).toBe('node-a');
    // kpr network writes the node file now (--pod-cidr-file is deprecated).
    expect(cfg.podCIDRFile).toBe('');
    expect(cfg.warnings).toEqual([]);
    expect(cfg.healthzBindAddress).toEqual({ host: undefined, port: 10256 });
    expect(cfg.metricsBindAddress).toEqual({ host: '127.0.0.1', port: 10249 });
    expect(cfg.clusterCIDRs).toEqual(['10.244.0.0/16']);
    // kube-proxy's defaults (what the README promises), but for the cluster CIDR placeholder.
    const defaults = parseProxyArgs(argv.filter((a) => !a.startsWith('--config=')));
    expect({ ...cfg, clusterCIDRs: [], configFile: undefined }).toEqual(defaults);
  });

  it('kpr network accepts its command line, writes the node file where the conflist reads it, and routes the cluster CIDR', () => {
    expect(network.command?.slice(0, 2)).toEqual(['/usr/local/bin/kpr', 'network']);
    const cfg = parseNetworkArgs((network.command ?? []).slice(2).map((a) => a.replace('$(NODE_NAME)', 'node-a')));
    expect(cfg).toMatchObject({ nodeName: 'node-a', backend: 'vxlan', nodeFile: '/run/kpr/node.json' });
    expect(hostPathAt(network, posix.dirname(cfg.nodeFile))).toBe('/run/kpr');
    const proxyCfg = parseProxyArgs(['--config', 'c'], () => configMap.data?.['config.conf'] ?? '');
    expect(cfg.clusterCIDRs).toEqual(proxyCfg.clusterCIDRs);
    expect(network.securityContext?.privileged).toBe(true);
    expect(network.readinessProbe?.httpGet).toMatchObject({ path: '/healthz', port: 10268 });
    for (const key of ['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT']) {
      expect(network.env?.find((e) => e.name === key)?.valueFrom?.configMapKeyRef).toEqual({ name: 'kpr-api-server', key, optional: true });
    }
    expect(network.volumeMounts?.find((m) => m.name === 'kube-api-access')?.readOnly).toBe(true);
  });

  describe('the conflist', () => {
    const conflist = JSON.parse(configMap.data?.['10-kpr.conflist'] ?? '') as {
      cniVersion: string; name: string; plugins: Record<string, unknown>[];
    };
    const [kprPlugin = {}, portmap] = conflist.plugins;
    const dir = mkdtempSync(join(tmpdir(), 'kpr-manifests-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('chains kpr-cni and portmap', () => {
      expect(conflist).toMatchObject({ cniVersion: '1.1.0', name: 'kpr' });
      expect(portmap).toEqual({ type: 'portmap', capabilities: { portMappings: true } });
    });

    it('its kpr-cni plugin is accepted by the plugin\'s parser, reads the node file, and leaves masquerading to kpr network', () => {
      const conf = parseNetConf(kprPlugin, conflist.name, conflist.cniVersion);
      expect(conf).toMatchObject({ mode: 'bridge', bridge: 'kpr0', ipMasq: false, hairpinMode: true, nodeFile: '/run/kpr/node.json', ipam: { type: 'kpr-ipam' } });
      const proxyCfg = parseProxyArgs(['--config', 'c'], () => configMap.data?.['config.conf'] ?? '');
      expect(conf.clusterCIDRs).toEqual(proxyCfg.clusterCIDRs);
    });

    it('its ipam section is accepted by kpr-ipam once kpr network wrote the node file', () => {
      const ipam = parseNetConf(kprPlugin, conflist.name, conflist.cniVersion).ipam;
      expect(ipam.podCIDRFile).toBe('/run/kpr/node.json');
      expect(hostPathAt(network, posix.dirname(String(ipam.podCIDRFile)))).toBe('/run/kpr');
      const podCIDRFile = join(dir, 'node.json');
      writeFileSync(podCIDRFile, JSON.stringify({ podCIDRs: ['10.244.3.0/24'], mtu: 1450, backend: 'vxlan' }));
      const cfg = parseIpamConfig({ ...ipam, podCIDRFile }, conflist.name);
      expect(cfg.dataDir).toBe('/var/lib/cni/networks');
      // kpr ipam (in the kpr container) reads the same store.
      expect(hostPathAt(proxy, cfg.dataDir)).toBe(cfg.dataDir);
      expect(cfg.rangeSets).toEqual([[{ subnet: '10.244.3.0/24', rangeStart: '10.244.3.1', rangeEnd: '10.244.3.254', gateway: '10.244.3.1' }]]);
    });
  });
});
