import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NamespaceSet, vethPair, uniqueToken, type Netns } from './netns.ts';
import { Agent } from './agent/client.ts';

describe('test harness', () => {
  const set = new NamespaceSet();
  let a: Netns;
  let b: Netns;
  const agents: Agent[] = [];

  beforeAll(async () => {
    a = await set.create('a');
    b = await set.create('b');
    const t = uniqueToken();
    await vethPair(a, `va${t}`, b, `vb${t}`);
    await a.ip(['addr', 'add', '10.99.0.1/24', 'dev', `va${t}`]);
    await b.ip(['addr', 'add', '10.99.0.2/24', 'dev', `vb${t}`]);
  });
  afterAll(async () => {
    agents.forEach((x) => x.stop());
    await set.destroyAll();
  });

  it('carries TCP and UDP between namespaces and reports the peer address', async () => {
    const server = new Agent(b);
    const client = new Agent(a);
    agents.push(server, client);
    await server.listen('tcp', 8080, 'srv');
    await server.listen('udp', 8053, 'srv');
    expect(await client.call({ op: 'probe', proto: 'tcp', host: '10.99.0.2', port: 8080, timeoutMs: 2000 }))
      .toMatchObject({ ok: true, reply: 'srv 10.99.0.1' });
    expect(await client.call({ op: 'probe', proto: 'udp', host: '10.99.0.2', port: 8053, timeoutMs: 2000 }))
      .toMatchObject({ ok: true, reply: 'srv 10.99.0.1' });
    expect(await client.call({ op: 'probe', proto: 'tcp', host: '10.99.0.2', port: 9999, timeoutMs: 2000 }))
      .toMatchObject({ ok: false, error: 'ECONNREFUSED' });
  });
});
