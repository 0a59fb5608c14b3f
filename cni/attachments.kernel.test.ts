// A second attachment in the same pod (Multus-style net1 on another network): it
// must succeed without touching the first one's default routes, carry traffic, and
// its DEL must remove only what it added.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../lab/agent/client.ts';
import { uniqueToken, type Netns } from '../lab/netns.ts';
import { buildExists, createLab, ipFiles, ipj, KPR_CNI, kprConf, linkNames, runPlugin, type Lab, type PluginRun } from '../test/support/cni-kernel.ts';

let lab: Lab;
beforeAll(async () => {
  if (!buildExists()) throw new Error(`${KPR_CNI} missing: run "npm run build" first`);
  lab = await createLab();
});
afterAll(async () => { await lab?.destroy(); });

interface LiveRoute { dst: string; gateway?: string; dev: string }

/** The pod's default routes of both families, as "family via gw dev". */
async function defaults(p: Netns): Promise<string[]> {
  const out: string[] = [];
  for (const family of ['-4', '-6']) {
    for (const r of (await ipj(p, [family, 'route', 'show', 'default'])) as unknown as LiveRoute[]) out.push(`${family} via ${r.gateway ?? '-'} dev ${r.dev}`);
  }
  return out;
}

/** A TCP connection from one agent to another's port 8080; returns the "<name> <peer address>" reply. */
async function probe(from: Agent, host: string): Promise<string> {
  const r = await from.call({ op: 'probe', proto: 'tcp', host, port: 8080, timeoutMs: 3000 });
  expect(r, `${host}: ${JSON.stringify(r)}`).toMatchObject({ ok: true });
  return (r as { reply: string }).reply;
}

const addrs = (r: PluginRun) => (r.json?.ips as Array<{ address: string }>).map((i) => i.address.split('/')[0] ?? '');

function attachments(p: Netns, containerId: string) {
  return (command: string, ifName: string, conf: Record<string, unknown>) =>
    runPlugin(lab.node, KPR_CNI, { command, containerId, netns: p.path, ifName }, JSON.stringify(conf));
}

describe.each(['bridge', 'routed'] as const)('%s mode', (mode) => {
  it('ADD eth0, ADD net1 on a second network: both work, eth0 keeps the default routes, DEL net1 leaves them', async () => {
    const t = uniqueToken();
    const first = kprConf(lab, { mode, name: `kpt-a-${mode}`, v4: '10.246.1.0/24', v6: 'fd00:246:1::/64', extra: { bridge: `kpa${t}` } });
    const second = kprConf(lab, { mode, name: `kpt-b-${mode}`, v4: '10.247.1.0/24', v6: 'fd00:247:1::/64', extra: { bridge: `kpb${t}` } });
    const p = await lab.set.create('multi');
    const run = attachments(p, `c${t}`);

    const eth0 = await run('ADD', 'eth0', first);
    expect(eth0.code, eth0.stdout).toBe(0);
    const before = await defaults(p);
    const gw = mode === 'bridge' ? ['10.246.1.1', 'fd00:246:1::1'] : ['169.254.1.1', 'fe80::1'];
    expect(before).toEqual([`-4 via ${gw[0]} dev eth0`, `-6 via ${gw[1]} dev eth0`]);

    const net1 = await run('ADD', 'net1', second);
    expect(net1.code, net1.stdout).toBe(0);
    expect(await defaults(p)).toEqual(before);
    // The result names only the routes net1 holds: none (no IPAM routes, the defaults stay eth0's).
    expect(net1.json?.routes).toEqual([]);
    expect((await run('CHECK', 'net1', { ...second, prevResult: net1.json })).code).toBe(0);
    expect((await run('CHECK', 'eth0', { ...first, prevResult: eth0.json })).code).toBe(0);

    // Traffic: the node reaches the pod on both attachments; the pod reaches the node
    // through eth0's default route (and, in bridge mode, net1's gateway through net1).
    const podAgent = new Agent(p);
    const nodeAgent = new Agent(lab.node);
    try {
      await podAgent.listen('tcp', 8080, 'pod');
      await nodeAgent.listen('tcp', 8080, 'node');
      for (const a of [...addrs(eth0), ...addrs(net1)]) expect(await probe(nodeAgent, a)).toMatch(/^pod /);
      const [eth0v4, eth0v6] = addrs(eth0);
      expect(await probe(podAgent, lab.node4)).toBe(`node ${eth0v4}`);
      expect(await probe(podAgent, lab.node6)).toBe(`node ${eth0v6}`);
      if (mode === 'bridge') {
        const [net1v4, net1v6] = addrs(net1);
        expect(await probe(podAgent, '10.247.1.1')).toBe(`node ${net1v4}`);
        expect(await probe(podAgent, 'fd00:247:1::1')).toBe(`node ${net1v6}`);
      }

      expect((await run('DEL', 'net1', second)).code).toBe(0);
      expect(await linkNames(p)).not.toContain('net1');
      expect(await defaults(p)).toEqual(before);
      expect(ipFiles(lab, `kpt-b-${mode}`)).toEqual([]);
      expect(await probe(podAgent, lab.node4)).toBe(`node ${eth0v4}`);
      expect(await probe(podAgent, lab.node6)).toBe(`node ${eth0v6}`);
    } finally {
      podAgent.stop();
      nodeAgent.stop();
    }

    expect((await run('DEL', 'eth0', first)).code).toBe(0);
    expect(await linkNames(p)).toEqual(['lo']);
    expect(ipFiles(lab, `kpt-a-${mode}`)).toEqual([]);
  });
});

it('a second attachment still adds the default route of a family the pod has none of, and its DEL takes it away', async () => {
  const t = uniqueToken();
  // eth0 is IPv4 only with an IPAM route of its own (no default); net1 is dual-stack.
  const first = kprConf(lab, { name: 'kpt-c', v4: '10.248.1.0/24', v6: null, extra: { bridge: `kpc${t}` }, ipam: { routes: [{ dst: '10.96.0.0/12' }] } });
  const second = kprConf(lab, { name: 'kpt-d', v4: '10.249.1.0/24', v6: 'fd00:249:1::/64', extra: { bridge: `kpd${t}` } });
  const p = await lab.set.create('multi');
  const run = attachments(p, `c${t}`);
  expect((await run('ADD', 'eth0', first)).code).toBe(0);
  expect(await defaults(p)).toEqual([]);
  const net1 = await run('ADD', 'net1', second);
  expect(net1.code, net1.stdout).toBe(0);
  expect(await defaults(p)).toEqual(['-4 via 10.249.1.1 dev net1', '-6 via fd00:249:1::1 dev net1']);
  expect(net1.json?.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.249.1.1' }, { dst: '::/0', gw: 'fd00:249:1::1' }]);
  expect((await run('DEL', 'net1', second)).code).toBe(0);
  expect(await defaults(p)).toEqual([]);
  expect((await ipj(p, ['route', 'show', '10.96.0.0/12']))[0]).toMatchObject({ gateway: '10.248.1.1', dev: 'eth0' });
  expect((await run('DEL', 'eth0', first)).code).toBe(0);
});
