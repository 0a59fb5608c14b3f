// A whole single-node cluster for daemon tests: the flow-table topology, the embedded
// API server holding the flow-table objects and this Node, and `kpr proxy` running in
// the node namespace and reaching the API server on its own loopback.
import { startApiServer, type ApiServer } from '../apiserver/server.ts';
import type { ProxyMode } from '../proxy/backend.ts';
import { forwardIntoNamespace, type Forward } from './ns-forward.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLUSTER_CIDRS, NODE_IP, NODE_NAME, NODE_ZONE, Topology } from './topology.ts';
import { OBJECTS } from './flow-table.ts';
import { KprProcess, isSync } from './kpr-process.ts';

const API_PORT_IN_NODE = 16443;

export const NODE_OBJECT = {
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: NODE_NAME, labels: { 'topology.kubernetes.io/zone': NODE_ZONE } },
  spec: { podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'] },
  status: { addresses: [{ type: 'InternalIP', address: NODE_IP.ip4 }, { type: 'InternalIP', address: NODE_IP.ip6 }] },
};

/** Runs the proxy of a cluster: the executable in the node namespace by default (see KprProcess). */
export type ProxyLauncher = (ctx: { node: Topology['node']; args: string[]; dir: string; kubeconfig: string }) => KprProcess;

export class Cluster {
  private constructor(
    readonly topo: Topology,
    readonly api: ApiServer,
    private readonly forward: Forward,
    readonly dir: string,
    readonly proxyArgs: string[],
    public proxy: KprProcess,
    private readonly launch: () => KprProcess,
  ) {}

  private network: KprProcess | undefined;

  /**
   * The cluster, its proxy started and synced. `launch` runs the proxy another way (a
   * container): it gets the default arguments and a kubeconfig that reaches the API
   * server from inside the node namespace. `beforeProxy` prepares the node (what
   * another proxy left there) once its servers run, before the proxy starts.
   */
  static async create(
    mode: ProxyMode,
    extraArgs: string[] = [],
    opts: { launch?: ProxyLauncher; beforeProxy?: (topo: Topology) => Promise<void> } = {},
  ): Promise<Cluster> {
    const { launch, beforeProxy } = opts;
    const topo = await Topology.create();
    const dir = mkdtempSync(join(tmpdir(), 'kpr-cluster-'));
    let api: ApiServer | undefined;
    let forward: Forward | undefined;
    try {
      await topo.startServers({ tcp: [8080], udp: [5353] });
      api = await startApiServer({ objects: [NODE_OBJECT, ...OBJECTS] });
      forward = await forwardIntoNamespace(topo.node, { host: '127.0.0.1', port: api.port }, API_PORT_IN_NODE);
      const kubeconfig = join(dir, 'kubeconfig');
      await api.writeKubeconfig(kubeconfig);
      const inNode = api.kubeconfigYaml().replace(/server: .*/, `server: http://127.0.0.1:${API_PORT_IN_NODE}`);
      const args = [
        `--proxy-mode=${mode}`, `--kubeconfig=${kubeconfig}`, `--master=http://127.0.0.1:${API_PORT_IN_NODE}`,
        `--hostname-override=${NODE_NAME}`, `--cluster-cidr=${CLUSTER_CIDRS.join(',')}`,
        '--healthz-bind-address=127.0.0.1:10256', '--metrics-bind-address=127.0.0.1:10249',
        '--iptables-min-sync-period=50ms', '--ipvs-min-sync-period=50ms', `--pod-cidr-file=${join(dir, 'podcidr.json')}`,
        ...extraArgs,
      ];
      const make = launch ? () => launch({ node: topo.node, args, dir, kubeconfig: inNode }) : () => new KprProcess(topo.node, args);
      const cluster = new Cluster(topo, api, forward, dir, args, make(), make);
      await beforeProxy?.(topo);
      await cluster.startProxy();
      return cluster;
    } catch (err) {
      await forward?.stop();
      await api?.close();
      await topo.destroy();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Starts (or restarts) the proxy and waits for its first sync. */
  async startProxy(): Promise<void> {
    this.proxy = this.launch();
    // Families sync in order; the IPv6 line means both are in.
    const synced = this.proxy.waitForLog((l) => isSync(l) && l.family === 'IPv6', 30_000);
    this.proxy.start();
    await synced;
  }

  /**
   * `kpr network` in the node namespace (what the DaemonSet's kpr-network container runs),
   * writing `nodeFile` for kpr-cni and kpr-ipam and masquerading pods' egress; resolves
   * after its first reconcile. On a one-node cluster it has no peers to route.
   */
  async startNetwork(nodeFile: string): Promise<KprProcess> {
    const kubeconfig = join(this.dir, 'kubeconfig-in-node');
    writeFileSync(kubeconfig, this.api.kubeconfigYaml().replace(/server: .*/, `server: http://127.0.0.1:${API_PORT_IN_NODE}`));
    const agent = new KprProcess(this.topo.node, [
      `--kubeconfig=${kubeconfig}`, `--hostname-override=${NODE_NAME}`, `--cluster-cidr=${CLUSTER_CIDRS.join(',')}`,
      `--node-file=${nodeFile}`, '--healthz-bind-address=', '--metrics-bind-address=',
    ], 'network');
    this.network = agent;
    agent.start();
    await agent.waitForLog((l) => l.msg === 'reconciled', 30_000, true);
    return agent;
  }

  async destroy(): Promise<void> {
    await this.network?.kill();
    await this.proxy.kill();
    await this.forward.stop();
    await this.api.close();
    await this.topo.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
