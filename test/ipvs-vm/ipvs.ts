// IPVS-specific behaviour with real packets: graceful termination, update ordering,
// schedulers, timeouts, sysctls, excludeCIDRs, idempotent syncs and cleanup.
import { run } from '../../lib/exec.ts';
import type { Endpoint, ServicePort } from '../../proxy/model/types.ts';
import { IpvsProxier, type IpvsProxierOptions, type IpvsScheduler } from '../../proxy/ipvs/proxier.ts';
import { endpoint, rulesConfig, servicePort, snapshot } from '../support/proxy-model.ts';
import { PODS, Topology } from '../../lab/topology.ts';
import { afterAll, assert, assertEqual, test } from './runner.ts';

const VIP = '10.96.1.1';
const s1 = endpoint(PODS.s1.ip4, { isLocal: true });
const s2 = endpoint(PODS.s2.ip4, { isLocal: true });

let shared: Promise<Topology> | undefined;
/** One topology for the tests of this file, with servers in s1 and s2. */
function topology(): Promise<Topology> {
  shared ??= (async () => {
    const topo = await Topology.create();
    for (const name of ['s1', 's2'] as const) {
      await topo.agent(topo.pods[name]).listen('tcp', 8080, name);
      await topo.agent(topo.pods[name]).listen('udp', 8080, name);
    }
    return topo;
  })();
  return shared;
}
afterAll(async () => { if (shared) await (await shared).destroy(); });

async function proxier(opts: Partial<IpvsProxierOptions> = {}): Promise<{ topo: Topology; p: IpvsProxier; sync: (entries: Array<[ServicePort, Endpoint[]]>, changed?: Set<string>) => Promise<number> }> {
  const topo = await topology();
  const p = new IpvsProxier({ family: 4, netns: topo.node.name, ...opts });
  const sync = async (entries: Array<[ServicePort, Endpoint[]]>, changed?: Set<string>) =>
    (await p.sync({ snapshot: snapshot(entries), config: rulesConfig({ nodeIP: '192.0.2.1', nodePortIPs: [] }), changed })).operations;
  return { topo, p, sync };
}

const inNode = async (topo: Topology, cmd: string, args: string[]) => (await topo.node.exec(cmd, args)).stdout;

async function probe(topo: Topology, proto: 'tcp' | 'udp' = 'tcp', host = VIP, port = 80): Promise<string> {
  const r = await topo.agent(topo.pods.client).call({ op: 'probe', proto, host, port, timeoutMs: 2000 });
  return r.ok ? (r.reply ?? '').split(' ')[0] ?? '' : `error:${r.error}`;
}

test('a sync without changes writes nothing; a full sync rewrites only the iptables rules', async () => {
  const { sync, p } = await proxier();
  const svc = servicePort('ns', 'web', { clusterIP: VIP });
  assert((await sync([[svc, [s1, s2]]])) > 0, 'first sync wrote nothing');
  assertEqual(await sync([[svc, [s1, s2]]], new Set()), 0, 'operations of an unchanged partial sync');
  const full = await sync([[svc, [s1, s2]]]);
  assert(full > 0 && full < 40, `a full resync wrote ${full} operations (only the fixed rules expected)`);
  await p.cleanup();
});

test('graceful termination: a leaving TCP real server with a connection stays at weight 0, UDP ones go at once', async () => {
  const { topo, p, sync } = await proxier();
  const tcp = servicePort('ns', 'gt', { clusterIP: VIP });
  const udp = servicePort('ns', 'gtu', { clusterIP: VIP, protocol: 'UDP' });
  await sync([[tcp, [s1, s2]], [udp, [s1, s2]]]);
  const client = topo.agent(topo.pods.client);
  const held = await client.call({ op: 'hold', host: VIP, port: 80, timeoutMs: 3000 });
  assert(held.ok && held.handle, `hold failed: ${JSON.stringify(held)}`);
  const holder = (held.reply ?? '').split(' ')[0] as 's1' | 's2';
  const other = holder === 's1' ? s2 : s1;
  await probe(topo, 'udp');
  await probe(topo, 'udp');
  await sync([[tcp, [other]], [udp, [other]]]);
  const table = await inNode(topo, 'ipvsadm', ['-S', '-n']);
  const leaving = PODS[holder].ip4;
  assert(table.includes(`-a -t ${VIP}:80 -r ${leaving}:8080 -m -w 0`), `draining real server not at weight 0:\n${table}`);
  assert(!table.includes(`-a -u ${VIP}:80 -r ${leaving}:8080`), `UDP real server not deleted:\n${table}`);
  assertEqual(p.draining, [`tcp/${VIP}:80/${leaving}:8080`], 'draining list');
  const still = await client.call({ op: 'send', handle: held.handle, data: 'ping' });
  assert(still.ok && still.reply?.startsWith(holder), `the held connection broke: ${JSON.stringify(still)}`);
  for (let i = 0; i < 4; i++) assertEqual(await probe(topo), holder === 's1' ? 's2' : 's1', 'new connection backend');
  // Wanted again: weight back to 1, no re-add.
  await sync([[tcp, [s1, s2]], [udp, [s1, s2]]]);
  assert((await inNode(topo, 'ipvsadm', ['-S', '-n'])).includes(`-a -t ${VIP}:80 -r ${leaving}:8080 -m -w 1`), 'weight not restored');
  await p.cleanup();
});

test('replacing every endpoint never leaves the service without a real server', async () => {
  const { topo, p, sync } = await proxier();
  const svc = servicePort('ns', 'swap', { clusterIP: VIP });
  await sync([[svc, [s1]]]);
  const results: string[] = [];
  let stop = false;
  const loop = (async () => { while (!stop) results.push(await probe(topo)); })();
  for (let i = 0; i < 4; i++) await sync([[svc, [i % 2 === 0 ? s2 : s1]]], new Set([svc.key]));
  stop = true;
  await loop;
  const errors = results.filter((r) => r.startsWith('error'));
  assert(results.length >= 4 && errors.length === 0, `${errors.length} of ${results.length} probes failed during updates: ${errors.join(', ')}`);
  await p.cleanup();
});

test('every scheduler programs and balances (rr wrr lc dh sh sed nq mh)', async () => {
  const svc = servicePort('ns', 'sched', { clusterIP: VIP });
  for (const scheduler of ['rr', 'wrr', 'lc', 'dh', 'sh', 'sed', 'nq', 'mh'] as IpvsScheduler[]) {
    const { topo, p, sync } = await proxier({ scheduler });
    await sync([[svc, [s1, s2]]]);
    const line = (await inNode(topo, 'ipvsadm', ['-S', '-n'])).split('\n').find((l) => l.startsWith(`-A -t ${VIP}:80`));
    assertEqual(line, `-A -t ${VIP}:80 -s ${scheduler}${scheduler === 'mh' ? ' -b mh-port' : ''}`, `${scheduler} service line`);
    const got = await probe(topo);
    assert(got === 's1' || got === 's2', `${scheduler}: probe got ${got}`);
    await p.cleanup();
  }
});

test('ClientIP affinity is IPVS persistence with its timeout; connection timeouts and sysctls are set', async () => {
  const { topo, p, sync } = await proxier({ strictARP: true, tcpTimeoutSeconds: 900, tcpFinTimeoutSeconds: 60, udpTimeoutSeconds: 200 });
  await sync([[servicePort('ns', 'aff', { clusterIP: VIP, affinityTimeoutSeconds: 600 }), [s1, s2]]]);
  assert((await inNode(topo, 'ipvsadm', ['-S', '-n'])).includes(`-A -t ${VIP}:80 -s rr -p 600`), 'persistence missing');
  const first = await probe(topo);
  for (let i = 0; i < 4; i++) assertEqual(await probe(topo), first, 'sticky backend');
  assert((await inNode(topo, 'ipvsadm', ['-L', '--timeout'])).includes('900 60 200'), 'ipvsadm --set not applied');
  const sysctl = await inNode(topo, 'sysctl', ['-n', 'net.ipv4.conf.all.arp_ignore', 'net.ipv4.conf.all.arp_announce', 'net.ipv4.vs.conntrack']);
  assertEqual(sysctl.trim().split(/\s+/), ['1', '2', '1'], 'arp_ignore, arp_announce, vs.conntrack');
  await p.cleanup();
});

test('excludeCIDRs protect virtual servers of others; cleanup leaves no trace and spares others', async () => {
  const { topo, p, sync } = await proxier({ excludeCIDRs: ['172.16.0.0/16'] });
  await topo.node.exec('ipvsadm', ['-A', '-t', '172.16.0.1:80', '-s', 'rr']);
  await topo.node.exec('ipvsadm', ['-A', '-t', '172.17.0.1:80', '-s', 'rr']);
  await topo.node.exec('ipset', ['create', 'OTHER-SET', 'hash:ip']);
  await topo.node.exec('iptables', ['-t', 'nat', '-N', 'OTHER-CHAIN']);
  await sync([[servicePort('ns', 'web', { clusterIP: VIP, nodePort: 30090, loadBalancerVIPs: ['198.51.100.30'] }), [s1]]]);
  const table = await inNode(topo, 'ipvsadm', ['-S', '-n']);
  assert(table.includes('-A -t 172.16.0.1:80') && !table.includes('172.17.0.1'), `excludeCIDRs not honoured:\n${table}`);
  await p.cleanup();
  const after = await inNode(topo, 'ipvsadm', ['-S', '-n']);
  assertEqual(after.trim(), '-A -t 172.16.0.1:80 -s rr', 'IPVS table after cleanup');
  const saves = (await inNode(topo, 'iptables-save', [])) + (await inNode(topo, 'ip6tables-save', []));
  assert(!saves.includes('KUBE-IPVS'), `iptables leftovers:\n${saves}`);
  assert(saves.includes(':OTHER-CHAIN'), 'a chain of others was removed');
  const sets = await inNode(topo, 'ipset', ['list', '-n']);
  assertEqual(sets.trim().split('\n'), ['OTHER-SET'], 'ipsets after cleanup');
  const link = await run('ip', ['-n', topo.node.name, 'link', 'show', 'kube-ipvs0'], { allowFailure: true });
  assert(link.exitCode !== 0, 'kube-ipvs0 still exists');
  await topo.node.exec('ipvsadm', ['-C']);
  await topo.node.exec('ipset', ['destroy', 'OTHER-SET']);
  await topo.node.exec('iptables', ['-t', 'nat', '-X', 'OTHER-CHAIN']);
});
