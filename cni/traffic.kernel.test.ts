// Real traffic through pods attached by the built kpr-cni, in both modes and both
// families: pod to pod on the node, pod to node, and pod to an "outside" namespace
// beyond the cluster CIDR, which sees the node's address (ipMasq).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../lab/agent/client.ts';
import { uniqueToken, type Netns } from '../lab/netns.ts';
import { buildExists, createLab, KPR_CNI, kprConf, runPlugin, type Lab } from '../test/support/cni-kernel.ts';

interface Pod { ns: Netns; v4: string; v6: string; agent: Agent }

describe.each(['bridge', 'routed'] as const)('%s mode', (mode) => {
  let lab: Lab;
  const pods: Pod[] = [];
  const agents: Agent[] = [];
  let nodeAgent: Agent;
  let outsideAgent: Agent;
  const conf = () => kprConf(lab, { mode, ipMasq: true, name: `kpt-traffic-${mode}`, v4: '10.244.0.0/24', v6: 'fd00:10:244::/64',
    extra: { clusterCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'] } });

  beforeAll(async () => {
    if (!buildExists()) throw new Error(`${KPR_CNI} missing: run "npm run build" first`);
    lab = await createLab();
    for (let i = 0; i < 2; i++) {
      const ns = await lab.set.create(`p${i}`);
      const r = await runPlugin(lab.node, KPR_CNI, { command: 'ADD', containerId: `c${uniqueToken()}`, netns: ns.path, ifName: 'eth0' }, JSON.stringify(conf()));
      if (r.code !== 0) throw new Error(`ADD failed: ${r.stdout}${r.stderr}`);
      const ips = (r.json?.ips as Array<{ address: string }>).map((x) => x.address.split('/')[0] ?? '');
      const agent = new Agent(ns);
      agents.push(agent);
      pods.push({ ns, v4: ips.find((a) => !a.includes(':')) ?? '', v6: ips.find((a) => a.includes(':')) ?? '', agent });
    }
    nodeAgent = new Agent(lab.node);
    outsideAgent = new Agent(lab.outside);
    agents.push(nodeAgent, outsideAgent);
    for (const [a, name] of [[pods[0]!.agent, 'pod0'], [pods[1]!.agent, 'pod1'], [nodeAgent, 'node'], [outsideAgent, 'outside']] as const) {
      await a.listen('tcp', 8080, name);
      await a.listen('udp', 8053, name);
    }
  });
  afterAll(async () => {
    agents.forEach((a) => a.stop());
    await lab?.destroy();
  });

  const probe = (from: Agent, proto: 'tcp' | 'udp', host: string) =>
    from.call({ op: 'probe', proto, host, port: proto === 'tcp' ? 8080 : 8053, timeoutMs: 3000 });

  it.each(['tcp', 'udp'] as const)('pod to pod on the node, IPv4 and IPv6, unmasqueraded (%s)', async (proto) => {
    const [a, b] = [pods[0]!, pods[1]!];
    expect(await probe(a.agent, proto, b.v4)).toMatchObject({ ok: true, reply: `pod1 ${a.v4}` });
    expect(await probe(a.agent, proto, b.v6)).toMatchObject({ ok: true, reply: `pod1 ${a.v6}` });
    expect(await probe(b.agent, proto, a.v4)).toMatchObject({ ok: true, reply: `pod0 ${b.v4}` });
  });

  it('pod to node and node to pod, IPv4 and IPv6', async () => {
    const a = pods[0]!;
    expect(await probe(a.agent, 'tcp', lab.node4)).toMatchObject({ ok: true, reply: `node ${a.v4}` });
    expect(await probe(a.agent, 'tcp', lab.node6)).toMatchObject({ ok: true, reply: `node ${a.v6}` });
    expect(await probe(nodeAgent, 'tcp', a.v4)).toMatchObject({ ok: true, reply: expect.stringMatching(/^pod0 /) });
    expect(await probe(nodeAgent, 'tcp', a.v6)).toMatchObject({ ok: true, reply: expect.stringMatching(/^pod0 /) });
  });

  it.each(['tcp', 'udp'] as const)('pod to outside the cluster CIDR is masqueraded to the node address (%s)', async (proto) => {
    const a = pods[1]!;
    expect(await probe(a.agent, proto, lab.outside4)).toMatchObject({ ok: true, reply: `outside ${lab.node4}` });
    expect(await probe(a.agent, proto, lab.outside6)).toMatchObject({ ok: true, reply: `outside ${lab.node6}` });
  });
});
