// 5,000 peer Nodes: the first complete list is programmed in one reconcile (not one per
// Node), every peer gets its route, neighbour and FDB entry in both families, and a
// restart over the full tables changes nothing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../apiserver/server.ts';
import { KprProcess } from '../lab/kpr-process.ts';
import { forwardIntoNamespace, type Forward } from '../lab/ns-forward.ts';
import { NamespaceSet } from '../lab/netns.ts';
import { peerNode, SELF_NODE, SELF_UNDERLAY } from '../test/support/network-peers.ts';

const PEERS = 5000;
const set = new NamespaceSet();
const dir = mkdtempSync(join(tmpdir(), 'kpr-network-scale-'));
let api: ApiServer | undefined;
let forward: Forward | undefined;
const agents: KprProcess[] = [];

afterAll(async () => {
  for (const a of agents) await a.kill();
  await forward?.stop();
  await api?.close();
  await set.destroyAll();
  rmSync(dir, { recursive: true, force: true });
});

it(`programs ${PEERS} peers from the first list in one reconcile, and a restart changes nothing`, async () => {
  const node = await set.create('scale');
  await node.ipBatch(SELF_UNDERLAY);
  api = await startApiServer({ objects: [SELF_NODE, ...Array.from({ length: PEERS }, (_, i) => peerNode(i))] });
  forward = await forwardIntoNamespace(node, { host: '127.0.0.1', port: api.port }, api.port);
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, api.kubeconfigYaml());
  const args = ['--kubeconfig', kubeconfig, '--hostname-override', 'self', '--node-file', join(dir, 'node.json'), '--healthz-bind-address', '', '--metrics-bind-address', '127.0.0.1:10269'];
  const metric = async (name: string) => {
    const out = await node.exec('curl', ['-s', 'http://127.0.0.1:10269/metrics']);
    return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(out.stdout)?.[1]);
  };

  const first = new KprProcess(node, args, 'network');
  agents.push(first);
  const t0 = Date.now();
  first.start();
  const line = await first.waitForLog((l) => l.msg === 'reconciled', 120_000, true);
  process.stderr.write(`${PEERS} peers: first reconcile ${String(line.durationMs)} ms, ${Date.now() - t0} ms from start\n`);
  expect(line).toMatchObject({ peers: PEERS, routes: 2 * PEERS, failed: 0 });
  expect(line.changes).toBeGreaterThan(6 * PEERS);
  // The list is one reconcile; at most one more follows (the agent's own annotation patch coming back).
  expect(await metric('kpr_network_reconcile_duration_seconds_count')).toBeLessThanOrEqual(2);
  const count = async (args: string[]) => (await node.exec(args[0] as string, args.slice(1))).stdout.trim().split('\n').length;
  expect(await count(['ip', '-4', 'route', 'show', 'proto', '107'])).toBe(PEERS);
  expect(await count(['ip', '-6', 'route', 'show', 'proto', '107'])).toBe(PEERS);
  expect(await count(['ip', 'neigh', 'show', 'nud', 'permanent'])).toBe(2 * PEERS);
  expect(await count(['bridge', 'fdb', 'show', 'dev', 'kpr-vxlan6'])).toBe(PEERS);

  await first.kill('SIGKILL');
  const second = new KprProcess(node, args, 'network');
  agents.push(second);
  second.start();
  const again = await second.waitForLog((l) => l.msg === 'reconciled', 120_000, true);
  process.stderr.write(`${PEERS} peers: restart reconcile ${String(again.durationMs)} ms\n`);
  expect(again).toMatchObject({ changes: 0, peers: PEERS, failed: 0 });
}, 300_000);
