// `kpr proxy` (the built executable) in a node namespace, fed by the embedded API
// server through unchanged client-node informers: the flow table, then the ways a
// real cluster changes and fails around it.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../lab/cluster.ts';
import { FLOWS } from '../lab/flow-table.ts';
import { checkFlow, runFlows } from '../lab/observe.ts';
import { NS, service, slices } from '../lab/objects.ts';
import { isSync, KPR_BIN } from '../lab/kpr-process.ts';
import { DAEMON_MALLOC_TUNABLES } from '../bin/runtime-env.ts';
import type { ProxyMode } from './backend.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `fn` returns "" (success) or the time is up; returns the elapsed ms or throws the last problem. */
async function within(ms: number, fn: () => Promise<string>): Promise<number> {
  const start = Date.now();
  let last = '';
  while (Date.now() - start < ms) {
    last = await fn();
    if (last === '') return Date.now() - start;
    await sleep(50);
  }
  throw new Error(`not within ${ms} ms: ${last}`);
}

/**
 * What the mode programmed, in a form a restart must reproduce: iptables rules as
 * sorted lines; for nftables the chains and rules, and the element count of every set
 * and map but the affinity ones (a restarted proxy may deal endpoints to other map
 * slots, and affinity sets hold live client entries).
 */
async function dumpRules(c: Cluster, mode: ProxyMode): Promise<string[]> {
  if (mode !== 'nftables') {
    return (await c.topo.node.exec('iptables-save', [])).stdout.split('\n').filter((l) => l.startsWith('-A')).sort();
  }
  const json = JSON.parse((await c.topo.node.exec('nft', ['-j', 'list', 'ruleset'])).stdout) as { nftables: Record<string, Record<string, unknown>>[] };
  const out: string[] = [];
  for (const item of json.nftables) {
    const [kind, o] = Object.entries(item)[0] ?? [];
    if (!o) continue;
    if (kind === 'chain') out.push(`chain ${String(o.family)} ${String(o.table)} ${String(o.name)}`);
    // nft prints a transport-port match as "tcp dport" or "th dport" depending on how it
    // decodes the rule, for the same kernel bytecode.
    if (kind === 'rule') out.push(`rule ${String(o.family)} ${String(o.chain)} ${JSON.stringify(o.expr).replace(/"protocol":"(tcp|udp|sctp)","field":"dport"/g, '"protocol":"th","field":"dport"')}`);
    // Affinity sets fill with client addresses as traffic flows: count only the others.
    const dynamic = String(o.name).startsWith('affinity-');
    if (kind === 'set' || kind === 'map') out.push(`${kind} ${String(o.family)} ${String(o.name)} ${dynamic || !Array.isArray(o.elem) ? '' : o.elem.length}`);
  }
  return out.sort();
}

describe.each(['iptables', 'nftables'] as const)('kpr proxy --proxy-mode %s', (MODE) => {
  let c: Cluster;
  beforeAll(async () => {
    c = await Cluster.create(MODE, ['--conntrack-tcp-timeout-established=2h']);
  }, 90_000);
  afterAll(async () => c?.destroy());

  const flow = (name: string) => {
    const f = FLOWS.find((x) => x.name.startsWith(name) && x.family === 4);
    if (!f) throw new Error(`no flow ${name}`);
    return f;
  };
  const probe = (host: string, port: number, proto: 'tcp' | 'udp' = 'tcp', localPort?: number) =>
    c.topo.agent(c.topo.pods.client).call({ op: 'probe', proto, host, port, timeoutMs: 800, ...(localPort ? { localPort } : {}) });

  it('programs the whole flow table from the API server', async () => {
    expect(await runFlows(c.topo, FLOWS, MODE)).toEqual([]);
  });

  it('serves healthz, livez, metrics, the proxy mode and health-check node ports', async () => {
    const node = c.topo.agent(c.topo.node);
    const get = async (url: string) => {
      const r = await node.call({ op: 'httpGet', url, timeoutMs: 2000 });
      if (!r.ok) throw new Error(`GET ${url}: ${r.error}`);
      const [status = '', ...body] = (r.reply ?? '').split(' ');
      return { status: Number(status), body: body.join(' ') };
    };
    const healthz = await get('http://127.0.0.1:10256/healthz');
    expect(healthz.status).toBe(200);
    expect(JSON.parse(healthz.body)).toMatchObject({ nodeEligible: true });
    expect((await get('http://127.0.0.1:10256/livez')).status).toBe(200);
    expect((await get('http://127.0.0.1:10249/proxyMode')).body.trim()).toBe(MODE);
    const metrics = (await get('http://127.0.0.1:10249/metrics')).body;
    for (const family of ['IPv4', 'IPv6']) {
      const syncs = new RegExp(`kubeproxy_sync_proxy_rules_duration_seconds_count\\{ip_family="${family}"\\} (\\d+)`).exec(metrics);
      expect(Number(syncs?.[1] ?? 0), family).toBeGreaterThan(0);
    }
    expect(metrics).toMatch(/kubeproxy_sync_proxy_rules_endpoint_changes_total \d+/);
    // iptables mode reads upstream's nfacct counters; the flow table reached NodePorts on 127.0.0.1 above.
    const localhost = /^kubeproxy_iptables_localhost_nodeports_accepted_packets_total (\d+)$/m.exec(metrics);
    if (MODE === 'iptables') {
      expect(Number(localhost?.[1] ?? 0)).toBeGreaterThan(0);
      expect(metrics).toMatch(/^kubeproxy_iptables_ct_state_invalid_dropped_packets_total \d+$/m);
    } else {
      expect(metrics).not.toContain('kubeproxy_iptables_');
    }
    expect(metrics).toMatch(/kubeproxy_sync_proxy_rules_no_local_endpoints_total\{ip_family="IPv4",traffic_policy="external"\} 1/);
    // The LoadBalancer with externalTrafficPolicy Local answers its health check from outside.
    const ext = c.topo.agent(c.topo.externals.ext);
    const check = await ext.call({ op: 'httpGet', url: 'http://192.0.2.1:32000/', timeoutMs: 2000 });
    expect(check.reply?.split(' ')[0]).toBe('200');
    expect(JSON.parse(check.reply?.slice(4) ?? '{}')).toMatchObject({ service: { namespace: NS, name: 'lblocal' }, localEndpoints: 1 });
    // With no local endpoint left, the check fails, so the load balancer drains this node.
    for (const s of slices('lblocal', [{ port: 80, targetPort: 8080 }], ['r1'])) c.api.apply(s);
    await within(3000, async () => {
      const r = await ext.call({ op: 'httpGet', url: 'http://192.0.2.1:32000/', timeoutMs: 2000 });
      return r.reply?.startsWith('503 ') ? '' : `health check still ${r.reply ?? r.error}`;
    });
    for (const s of slices('lblocal', [{ port: 80, targetPort: 8080 }], ['s1', 'r1'])) c.api.apply(s);
  });

  it("runs with the daemons' malloc settings (the executable replaced itself, same pid)", async () => {
    // glibc parses the variable in place, ending each setting with a NUL.
    const environ = await readFile(`/proc/${c.proxy.pid}/environ`, 'utf8');
    expect(`\0${environ}`).toContain(`\0GLIBC_TUNABLES=${DAEMON_MALLOC_TUNABLES.replaceAll(':', '\0')}\0`);
  });

  it('gives the garbage of the initial lists and of its full syncs back (gc exposed in the executable, malloc_trim from kpr-sys.node)', async () => {
    const released = () => new Set(c.proxy.logs.map((l) => l.msg).filter((m) => m?.startsWith('released the ')));
    // The collection after the first sync runs as a task of its own, after the sync's log line.
    await within(5000, async () => (released().has("released the full sync's memory") ? '' : 'no release after the full sync'));
    expect(released()).toEqual(new Set(["released the initial lists' memory", "released the full sync's memory"]));
    // trimmed is a boolean only where the addon beside the executable was loaded.
    for (const l of c.proxy.logs.filter((x) => x.msg?.startsWith('released the '))) expect(typeof l.trimmed, l.msg).toBe('boolean');
  });

  it("applies kube-proxy's conntrack settings in its namespace", async () => {
    const value = await c.topo.node.exec('sysctl', ['-n', 'net.netfilter.nf_conntrack_tcp_timeout_established']);
    expect(value.stdout.trim()).toBe('7200');
  });

  it('writes the Node pod CIDRs for kpr-ipam', async () => {
    const file = join(c.dir, 'podcidr.json');
    await within(3000, async () => (await readFile(file, 'utf8').catch(() => '')) ? '' : 'no pod CIDR file');
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'] });
  });

  it('follows changes arriving through the watch within a bounded time', async () => {
    const web = [{ port: 80, targetPort: 8080 }, { name: 'dns', port: 53, protocol: 'UDP' as const, targetPort: 5353 }];
    for (const s of slices('web', web, ['s2'])) c.api.apply(s);
    const ms = await within(3000, async () => {
      const r = await probe('10.96.0.10', 80);
      return r.ok && r.reply?.startsWith('s2 ') ? '' : `got ${JSON.stringify(r)}`;
    });
    // With a 50 ms min-sync-period the change is in the kernel within a second.
    expect(ms).toBeLessThan(1500);
    // A new Service appears, then goes away.
    c.api.apply(service({ name: 'late', clusterIP: '10.96.1.1', ports: [{ port: 80, targetPort: 8080 }] }));
    for (const s of slices('late', [{ port: 80, targetPort: 8080 }], ['s1'], [4])) c.api.apply(s);
    await within(3000, async () => ((await probe('10.96.1.1', 80)).reply?.startsWith('s1 ') ? '' : 'late not reachable'));
    c.api.remove('Service', NS, 'late');
    await within(3000, async () => ((await probe('10.96.1.1', 80)).ok ? 'late still reachable' : ''));
    for (const s of slices('web', web, ['s1', 's2', 'r1'])) c.api.apply(s);
    await within(3000, () => checkFlow(c.topo, flow('pod to ClusterIP reaches every endpoint'), MODE));
  });

  it.runIf(MODE === 'nftables')('follows ServiceCIDR objects: their addresses join and leave the dropped set', async () => {
    const serviceCIDRs = async () => (await c.topo.node.exec('nft', ['list', 'set', 'ip', 'kpr', 'service-cidrs'])).stdout;
    expect(await serviceCIDRs()).toContain('10.96.0.0/16');
    const extra = { apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name: 'extra' }, spec: { cidrs: ['10.97.0.0/16'] } };
    c.api.apply(extra);
    await within(3000, async () => ((await serviceCIDRs()).includes('10.97.0.0/16') ? '' : 'extra CIDR not programmed'));
    c.api.remove('ServiceCIDR', undefined, 'extra');
    await within(3000, async () => ((await serviceCIDRs()).includes('10.97.0.0/16') ? 'extra CIDR still programmed' : ''));
    expect(await serviceCIDRs()).toContain('10.96.0.0/16');
  });

  it('skips a malformed Service and EndpointSlice, naming them, while the others keep working', async () => {
    c.api.apply({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: NS, name: 'broken' }, spec: { clusterIP: '10.96.1.2', ports: [{ port: 'eighty' }] } });
    c.api.apply({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { namespace: NS, name: 'broken-slice', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4', endpoints: 'not-a-list',
    });
    // Issue 12: a port name that iptables-restore would take as rules (ACCEPT at the top of INPUT).
    const attack = 'p\nCOMMIT\n*filter\n-I INPUT 1 -j ACCEPT\nCOMMIT\n*nat\n-A KUBE-MARK-MASQ -m comment --comment "x';
    c.api.apply(service({ name: 'hostile', clusterIP: '10.96.1.9', ports: [{ name: attack, port: 80, targetPort: 8080 }] }));
    for (const s of slices('hostile', [{ name: attack, port: 80, targetPort: 8080 }], ['s1'], [4])) c.api.apply(s);
    await c.proxy.waitForLog((l) => String(l.err ?? '').includes('Service flows/broken'), 10_000, true);
    await c.proxy.waitForLog((l) => String(l.err ?? '').includes('EndpointSlice flows/broken-slice'), 10_000, true);
    await c.proxy.waitForLog((l) => /^Service flows\/hostile: .*spec\.ports\.0\.name/.test(String(l.err ?? '')), 10_000, true);
    await c.proxy.waitForLog((l) => /^EndpointSlice flows\/hostile-.*ports\.0\.name/.test(String(l.err ?? '')), 10_000, true);
    // A later change still goes through, and the table still holds.
    c.api.apply(service({ name: 'after-broken', clusterIP: '10.96.1.3', ports: [{ port: 80, targetPort: 8080 }] }));
    for (const s of slices('after-broken', [{ port: 80, targetPort: 8080 }], ['s2'], [4])) c.api.apply(s);
    await within(3000, async () => ((await probe('10.96.1.3', 80)).reply?.startsWith('s2 ') ? '' : 'after-broken not reachable'));
    expect(await runFlows(c.topo, FLOWS, MODE)).toEqual([]);
    const ruleset = (await c.topo.node.exec(MODE === 'nftables' ? 'nft' : 'iptables-save', MODE === 'nftables' ? ['list', 'ruleset'] : [])).stdout;
    expect(ruleset).not.toContain('10.96.1.9');
    expect(ruleset).not.toMatch(/^-A INPUT -j ACCEPT$/m);
  });

  it('clears stale UDP conntrack entries when endpoints go away, also down to zero', async () => {
    const dns = [{ name: 'dns', port: 53, protocol: 'UDP' as const, targetPort: 5353 }];
    c.api.apply(service({ name: 'udp', clusterIP: '10.96.1.4', ports: dns }));
    for (const s of slices('udp', dns, ['s1'], [4])) c.api.apply(s);
    const port = 40_053;
    await within(3000, async () => {
      const r = await probe('10.96.1.4', 53, 'udp', port);
      return r.reply?.startsWith('s1 ') ? '' : `udp not reachable: ${JSON.stringify(r)}`;
    });
    // The client keeps its source port, so without cleanup its conntrack entry keeps it on s1.
    for (const s of slices('udp', dns, ['s2'], [4])) c.api.apply(s);
    await within(3000, async () => {
      const r = await probe('10.96.1.4', 53, 'udp', port);
      return r.reply?.startsWith('s2 ') ? '' : `still ${JSON.stringify(r)}`;
    });
    for (const s of slices('udp', dns, [], [4])) c.api.apply(s);
    await within(3000, async () => {
      const r = await probe('10.96.1.4', 53, 'udp', port);
      return !r.ok && r.error === 'ECONNREFUSED' ? '' : `still ${JSON.stringify(r)}`;
    });
  });

  it('keeps its rules while the API server is away, and catches up after a 410', async () => {
    await c.api.stop();
    await sleep(1500);
    expect(await runFlows(c.topo, FLOWS.filter((f) => f.family === 4), MODE)).toEqual([]);
    c.api.apply(service({ name: 'while-away', clusterIP: '10.96.1.5', ports: [{ port: 80, targetPort: 8080 }] }));
    for (const s of slices('while-away', [{ port: 80, targetPort: 8080 }], ['s1'], [4])) c.api.apply(s);
    c.api.compact();
    await c.api.start();
    await within(15_000, async () => ((await probe('10.96.1.5', 80)).reply?.startsWith('s1 ') ? '' : 'while-away not reachable'));
    expect(await runFlows(c.topo, FLOWS, MODE)).toEqual([]);
  });

  it('survives kill -9 and a restart: established and new traffic flow, no duplicate rules', async () => {
    const before = await dumpRules(c, MODE);
    const client = c.topo.agent(c.topo.pods.client);
    const held = await client.call({ op: 'hold', host: '10.96.0.80', port: 80, timeoutMs: 2000 });
    expect(held.ok).toBe(true);
    await c.proxy.kill('SIGKILL');
    // With the proxy gone, the kernel keeps serving.
    expect(await checkFlow(c.topo, flow('pod to ClusterIP reaches every endpoint'), MODE)).toBe('');
    await c.startProxy();
    const after = await client.call({ op: 'send', handle: held.handle ?? 0, data: 'still there?' });
    expect(after).toMatchObject({ ok: true });
    expect(await runFlows(c.topo, FLOWS, MODE)).toEqual([]);
    expect(await dumpRules(c, MODE)).toEqual(before);
    // The restarted proxy reconciled the kernel with a full sync of both families.
    expect(c.proxy.logs.filter((l) => isSync(l) && l.full === true).map((l) => l.family).sort()).toEqual(['IPv4', 'IPv6']);
  });
  it('--cleanup removes what kpr owns in every mode, and nothing else', async () => {
    const node = c.topo.node;
    await node.exec('iptables', ['-t', 'nat', '-N', 'OTHER-CHAIN']);
    await node.exec('iptables', ['-t', 'nat', '-A', 'PREROUTING', '-j', 'OTHER-CHAIN']);
    await node.exec('nft', ['add', 'table', 'ip', 'someone-else']);
    await c.proxy.kill('SIGTERM');
    const out = await node.exec(KPR_BIN, ['proxy', '--cleanup'], { allowFailure: true });
    expect(out.exitCode, out.stderr).toBe(0);
    const save = (await node.exec('iptables-save', [])).stdout + (await node.exec('ip6tables-save', [])).stdout;
    // kubelet's KUBE-FIREWALL is not kpr's to delete (as upstream's cleanup leaves it).
    expect(save.split('\n').filter((l) => /KUBE-/.test(l) && !/KUBE-FIREWALL/.test(l))).toEqual([]);
    expect(save).toContain('-A PREROUTING -j OTHER-CHAIN');
    const tables = (await node.exec('nft', ['list', 'tables'])).stdout;
    expect(tables).not.toMatch(/table ip6? kpr\b/);
    expect(tables).toContain('table ip someone-else');
    // And the cluster is back once the proxy runs again.
    await c.startProxy();
    expect(await runFlows(c.topo, FLOWS.filter((f) => f.family === 4), MODE)).toEqual([]);
  });
});
