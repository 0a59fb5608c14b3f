// kubectl drives the multi-node lab's API server (the embedded one) and the lab follows:
// get, apply, edit, patch and delete of Services, EndpointSlices and Nodes, checked with
// real packets and routes; and `kpr lab --nodes 2 --keep` itself, with Ctrl-C.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../lib/exec.ts';
import { KPR_BIN } from './kpr-process.ts';
import { MultiNodeCluster, POD_TCP } from './multinode.ts';
import { staleNamespaces } from './netns.ts';

let c: MultiNodeCluster;
beforeAll(async () => {
  c = await MultiNodeCluster.create({ nodes: 2, backend: 'vxlan' });
  await c.startProxies('iptables');
}, 180_000);
afterAll(async () => {
  await c?.destroy();
});

const execFileP = promisify(execFile);
const kubectl = async (args: string[], env: Record<string, string> = {}) =>
  (await execFileP('kubectl', ['--kubeconfig', c.net.kubeconfig, ...args], { env: { ...process.env, ...env } })).stdout;

/** Probes from pod-a until `ok` holds for the reply (the proxies follow within their sync period), or fails. */
async function until(host: string, port: number, ok: (r: { ok: boolean; reply?: string }) => boolean, what: string): Promise<void> {
  let last: unknown;
  for (let i = 0; i < 60; i++) {
    const r = await c.pod('a').agent.call({ op: 'probe', proto: 'tcp', host, port, timeoutMs: 500 });
    if (ok(r)) return;
    last = r;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`${what}: last probe ${JSON.stringify(last)}`);
}

const serviceYaml = (ip: string, endpoint: string) => `
apiVersion: v1
kind: Service
metadata: {name: added, namespace: lab}
spec: {type: ClusterIP, clusterIP: ${ip}, clusterIPs: [${ip}], ports: [{name: http, port: 80, protocol: TCP, targetPort: ${POD_TCP}}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: added-1, namespace: lab, labels: {kubernetes.io/service-name: added}}
addressType: IPv4
ports: [{name: http, port: ${POD_TCP}, protocol: TCP}]
endpoints: [{addresses: [${endpoint}], nodeName: b, conditions: {ready: true}}]
`;

describe('kubectl against the lab\'s API server', () => {
  it('lists Nodes, Services and EndpointSlices', async () => {
    expect((await kubectl(['get', 'nodes', '-o', 'name'])).split('\n').filter(Boolean)).toEqual(['node/a', 'node/b']);
    expect((await kubectl(['get', 'services', '-n', 'lab', '-o', 'jsonpath={.items[*].metadata.name}'])).split(' ').sort()).toEqual(['np', 'nplocal', 'spread']);
    expect(await kubectl(['get', 'endpointslices', '-n', 'lab', '-o', 'name'])).toContain('endpointslice.discovery.k8s.io/spread-v4');
    // The server's Table columns, as kube-apiserver prints them.
    expect(await kubectl(['get', 'service', 'np', '-n', 'lab'])).toMatch(/^NAME +TYPE +CLUSTER-IP +EXTERNAL-IP +PORT\(S\) +AGE\nnp +NodePort +10\.96\.1\.20 +<none> +80:30080\/TCP +\d+s\n$/);
  });

  it('applies a Service and its EndpointSlice (create, then change), and the proxies route it; patch, edit and delete are followed', async () => {
    const a = c.pod('a');
    const b = c.pod('b');
    const file = join(c.net.dir, 'added.yaml');
    writeFileSync(file, serviceYaml('10.96.1.40', b.ip4));
    expect(await kubectl(['apply', '-f', file])).toMatch(/service\/added created/);
    await until('10.96.1.40', 80, (r) => r.reply === `${b.name} ${a.ip4}`, 'the applied Service never reached pod-b');

    // A second apply with a change: a three-way strategic merge patch.
    writeFileSync(file, serviceYaml('10.96.1.40', a.ip4));
    expect(await kubectl(['apply', '-f', file])).toMatch(/endpointslice.discovery.k8s.io\/added-1 configured/);
    await until('10.96.1.40', 80, (r) => r.reply?.startsWith(`${a.name} `) === true, 'the re-applied EndpointSlice was not followed');

    // kubectl patch: a strategic merge patch adds a Service port (ports merge by port), a JSON patch its endpoint port.
    await kubectl(['patch', 'service', 'added', '-n', 'lab', '-p', `{"spec":{"ports":[{"name":"alt","port":81,"protocol":"TCP","targetPort":${POD_TCP}}]}}`]);
    expect(await kubectl(['get', 'service', 'added', '-n', 'lab', '-o', 'jsonpath={.spec.ports[*].port}'])).toBe('80 81');
    await kubectl(['patch', 'endpointslice', 'added-1', '-n', 'lab', '--type=json', '-p', `[{"op":"add","path":"/ports/-","value":{"name":"alt","port":${POD_TCP},"protocol":"TCP"}}]`]);
    await until('10.96.1.40', 81, (r) => r.ok, 'the patched port 81 was not routed');

    // kubectl edit, with a script as the editor.
    const editor = join(c.net.dir, 'editor.sh');
    writeFileSync(editor, `#!/bin/sh\nsed -i 's/${a.ip4}/${b.ip4}/' "$1"\n`, { mode: 0o755 });
    expect(await kubectl(['edit', 'endpointslice', 'added-1', '-n', 'lab'], { EDITOR: editor, KUBE_EDITOR: editor })).toMatch(/edited/);
    await until('10.96.1.40', 80, (r) => r.reply?.startsWith(`${b.name} `) === true, 'the edited EndpointSlice was not followed');

    expect(await kubectl(['delete', '-f', file])).toMatch(/service "added" deleted/);
    await until('10.96.1.40', 80, (r) => !r.ok, 'the deleted Service still answers');
  });

  it('applies a changed Node (a label: routes stay) and deletes it (its routes go from the other node)', async () => {
    const routes = async () => (await c.net.node('a').ns.exec('ip', ['-4', 'route', 'show', 'proto', '107'])).stdout;
    const routed = async (cidr: string, want: boolean) => {
      for (let i = 0; (await routes()).includes(cidr) !== want; i++) {
        if (i > 100) throw new Error(`route to ${cidr} ${want ? 'missing' : 'still there'} after 5 s:\n${await routes()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    expect(await routes()).toContain('10.244.2.0/24');
    const node = JSON.parse(await kubectl(['get', 'node', 'b', '-o', 'json'])) as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
    for (const k of ['resourceVersion', 'uid', 'creationTimestamp']) delete node.metadata[k];
    // (Pod CIDRs are immutable in Kubernetes and status is not written by apply: a label is what an apply changes.)
    node.metadata.labels = { ...(node.metadata.labels as Record<string, string> | undefined), 'topology.kubernetes.io/zone': 'zone-b' };
    const file = join(c.net.dir, 'node-b.json');
    writeFileSync(file, JSON.stringify(node));
    expect(await kubectl(['apply', '-f', file])).toMatch(/node\/b configured/);
    expect(await kubectl(['get', 'node', 'b', '-o', 'jsonpath={.metadata.labels.topology\\.kubernetes\\.io/zone}'])).toBe('zone-b');
    expect(await routes()).toContain('10.244.2.0/24');
    expect(await kubectl(['delete', 'node', 'b'])).toMatch(/node "b" deleted/);
    await routed('10.244.2.0/24', false);
  });
});

describe('kpr lab --nodes 2 --keep', () => {
  it('prints where cross-node requests land and a kubeconfig kubectl works with, and cleans up on Ctrl-C', { timeout: 240_000 }, async () => {
    const lab = spawn(KPR_BIN, ['lab', '--nodes', '2', '--keep'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let stderr = '';
    lab.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => lab.on('exit', (code) => resolve(code)));
    const kubeconfig = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no kubeconfig within 200 s:\n${lines.join('\n')}\n${stderr}`)), 200_000);
      createInterface({ input: lab.stdout }).on('line', (l) => {
        lines.push(l);
        const m = /--kubeconfig (\S+)/.exec(l);
        if (m?.[1]) { clearTimeout(timer); resolve(m[1]); }
      });
      void exited.then((code) => reject(new Error(`kpr lab exited ${code}:\n${lines.join('\n')}\n${stderr}`)));
    });
    const out = lines.join('\n');
    expect(out).toMatch(/pod to ClusterIP whose endpoints are all on other nodes/);
    expect(out).toMatch(/pod-b×12 +source kept/);
    expect((await run('kubectl', ['--kubeconfig', kubeconfig, 'get', 'nodes', '-o', 'name'])).stdout.split('\n').filter(Boolean)).toEqual(['node/a', 'node/b']);
    lab.kill('SIGINT');
    expect(await exited).toBe(130);
    const left = (await run('ip', ['netns', 'list'])).stdout.split('\n').filter((n) => n.includes(`kpt-${lab.pid}-`));
    expect(left).toEqual([]);
    expect(await staleNamespaces()).not.toContainEqual(expect.stringContaining(`kpt-${lab.pid}-`));
  });
});
