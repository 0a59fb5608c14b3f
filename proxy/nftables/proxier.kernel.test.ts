import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../lab/agent/client.ts';
import { NamespaceSet, uniqueToken, vethPair, type Netns } from '../../lab/netns.ts';
import type { Endpoint, ServicePort } from '../model/types.ts';
import { endpoint, rulesConfig, servicePort, snapshot } from '../../test/support/proxy-model.ts';
import { NftablesProxier } from './proxier.ts';

// Node namespace (runs kpr's table and the client) <-> "pods" namespace holding two
// endpoints: 10.244.1.5 (tcp 8080 "ep1", udp 5353) and 10.244.1.6 (tcp 8081 "ep2").
describe('nftables proxier on a real kernel', () => {
  const set = new NamespaceSet();
  let node: Netns;
  let pods: Netns;
  let client: Agent;
  let server: Agent;
  let proxier: NftablesProxier;
  const config = rulesConfig({ nodePortIPs: ['10.244.1.1'], serviceCIDRs: ['10.96.0.0/16'] });
  const web = servicePort('ns1', 'web', { clusterIP: '10.96.0.10' });
  const dns = servicePort('ns1', 'dns', { clusterIP: '10.96.0.53', protocol: 'UDP', portName: 'dns', port: 53 });
  const empty = servicePort('ns1', 'empty', { clusterIP: '10.96.0.20' });
  const ep1 = endpoint('10.244.1.5');
  const ep2 = endpoint('10.244.1.6', { port: 8081 });

  const sync = (webEps: readonly Endpoint[], changed?: ServicePort[]) =>
    proxier.sync({
      snapshot: snapshot([[web, webEps], [dns, [endpoint('10.244.1.5', { port: 5353 })]], [empty, []]]),
      config,
      changed: changed && new Set(changed.map((s) => s.key)),
    });
  const probe = (host: string, port: number, proto: 'tcp' | 'udp' = 'tcp') =>
    client.call({ op: 'probe', proto, host, port, timeoutMs: 1500 });
  async function reached(n: number): Promise<Set<string>> {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const r = await probe('10.96.0.10', 80);
      seen.add(r.ok ? (r.reply ?? '').split(' ')[0] ?? '' : `error:${r.error}`);
    }
    return seen;
  }

  beforeAll(async () => {
    node = await set.create('node');
    pods = await set.create('pods');
    const t = uniqueToken();
    await vethPair(node, `vn${t}`, pods, `vp${t}`);
    await node.ip(['addr', 'add', '10.244.1.1/24', 'dev', `vn${t}`]);
    await node.ip(['route', 'add', '10.96.0.0/16', 'dev', `vn${t}`]);
    await pods.ip(['addr', 'add', '10.244.1.5/24', 'dev', `vp${t}`]);
    await pods.ip(['addr', 'add', '10.244.1.6/24', 'dev', `vp${t}`]);
    await pods.ip(['route', 'add', 'default', 'via', '10.244.1.1']);
    server = new Agent(pods);
    client = new Agent(node);
    await server.listen('tcp', 8080, 'ep1');
    await server.listen('tcp', 8081, 'ep2');
    await server.listen('udp', 5353, 'dns1');
    proxier = new NftablesProxier({ family: 4, command: ['ip', 'netns', 'exec', node.name, 'nft'] });
  });
  afterAll(async () => {
    client?.stop();
    server?.stop();
    await set.destroyAll();
  });

  it('a ClusterIP with two endpoints reaches both; UDP works through the endpoint map', async () => {
    expect(await sync([ep1, ep2])).toMatchObject({ full: true });
    expect(await reached(30)).toEqual(new Set(['ep1', 'ep2']));
    expect(await probe('10.96.0.53', 53, 'udp')).toMatchObject({ ok: true, reply: 'dns1 10.244.1.1' });
  });

  it('follows an endpoint removal with a partial sync', async () => {
    const r = await sync([ep1], [web]);
    expect(r.full).toBe(false);
    expect(r.operations).toBeLessThan(10);
    expect(await reached(15)).toEqual(new Set(['ep1']));
  });

  it('rejects a Service without endpoints and a wrong port of a ClusterIP; drops unallocated ClusterIPs', async () => {
    expect(await probe('10.96.0.20', 80)).toMatchObject({ ok: false, error: 'ECONNREFUSED' });
    expect(await probe('10.96.0.10', 81)).toMatchObject({ ok: false, error: 'ECONNREFUSED' });
    expect(await probe('10.96.0.99', 80)).toMatchObject({ ok: false, error: 'timeout' });
  });

  it('a no-op sync writes nothing', async () => {
    expect(await sync([ep1], [web])).toEqual({ full: false, operations: 0 });
  });

  it('repairs drift on a full sync', async () => {
    await node.exec('nft', ['delete', 'element', 'ip', 'kpr', 'service-ips', '{ 10.96.0.10 . tcp . 80 }']);
    await node.exec('nft', ['add', 'element', 'ip', 'kpr', 'cluster-ips', '{ 10.96.0.77 }']);
    await node.exec('nft', ['add', 'set', 'ip', 'kpr', 'stray-set', '{ type ipv4_addr ; }']);
    await node.exec('nft', ['add', 'chain', 'ip', 'kpr', 'stray-chain']);
    expect((await probe('10.96.0.10', 80)).ok).toBe(false);
    const r = await sync([ep1]);
    expect(r.full).toBe(true);
    expect(await reached(5)).toEqual(new Set(['ep1']));
    const table = (await node.exec('nft', ['list', 'table', 'ip', 'kpr'])).stdout;
    expect(table).not.toMatch(/stray|10\.96\.0\.77/);
    // Repaired state is complete: the next partial sync has nothing to do.
    expect(await sync([ep1], [web])).toEqual({ full: false, operations: 0 });
  });

  it('a new proxier (a restart) takes the existing table over', async () => {
    const before = (await node.exec('nft', ['list', 'table', 'ip', 'kpr'])).stdout;
    proxier = new NftablesProxier({ family: 4, command: ['ip', 'netns', 'exec', node.name, 'nft'] });
    expect(await sync([ep1])).toMatchObject({ full: true });
    expect((await node.exec('nft', ['list', 'table', 'ip', 'kpr'])).stdout).toBe(before);
    expect(await reached(5)).toEqual(new Set(['ep1']));
  });

  it('cleanup removes only the kpr table', async () => {
    await node.exec('nft', ['add', 'table', 'ip', 'other']);
    await proxier.cleanup();
    const out = await node.exec('nft', ['list', 'tables']);
    expect(out.stdout).toContain('table ip other');
    expect(out.stdout).not.toContain('table ip kpr');
  });
});
