// Moving in from kube-proxy's iptables mode: a node namespace holding upstream's
// iptables layout for some of the cluster's Services (written as kube-proxy writes it,
// test/support/upstream-iptables.ts) serves clients in a loop while kpr starts on it;
// kpr adopts the chains in place and not one connection is refused or dropped. Then
// what kube-proxy's nftables and IPVS modes leave, removed by kpr and kpr-migrate-kube-proxy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../lab/cluster.ts';
import { FLOWS } from '../lab/flow-table.ts';
import { runFlows } from '../lab/observe.ts';
import { isSync } from '../lab/kpr-process.ts';
import type { Netns } from '../lab/netns.ts';
import { clientLoops, svcChain, upstreamIptables, UPSTREAM } from '../test/support/upstream-iptables.ts';

const MIGRATE_KUBE_PROXY = new URL('../scripts/migrate-from-kube-proxy.sh', import.meta.url).pathname;
describe('moving in from kube-proxy in iptables mode', () => {
  let c: Cluster;
  let loops: ReturnType<typeof clientLoops> | undefined;
  let before = 0;
  beforeAll(async () => {
    c = await Cluster.create('iptables', [], {
      beforeProxy: async (topo) => {
        await topo.node.exec('iptables-restore', [], { input: upstreamIptables(UPSTREAM, '10.244.0.0/16') });
        loops = clientLoops(topo);
        // Upstream's rules serve before kpr runs.
        while (loops.probes < 30) await new Promise((r) => setTimeout(r, 20));
        before = loops.probes;
      },
    });
    // kpr has synced (create waits for it); keep the loops running a little longer.
    await new Promise((r) => setTimeout(r, 1500));
    await loops?.stop();
  }, 120_000);
  afterAll(async () => {
    await loops?.stop();
    await c?.destroy();
  });

  it('adopts the chains in place: no connection refused or dropped while kpr starts', () => {
    expect(before).toBeGreaterThanOrEqual(30);
    // The loops ran across kpr's start and first sync.
    expect(loops?.probes ?? 0).toBeGreaterThan(before + 30);
    expect(c.proxy.logs.some(isSync)).toBe(true);
    expect(loops?.failures).toEqual([]);
  });

  it('leaves none of upstream\'s chains beside its own (only kubelet\'s hint and kube-proxy\'s empty canaries, named in the README)', async () => {
    const save = (await c.topo.node.exec('iptables-save', [])).stdout;
    // kpr uses upstream's names: the Services' chains are the very same ones.
    for (const s of UPSTREAM) expect(save).toContain(`:${svcChain(s)} `);
    let table = '';
    const rules = save.split('\n').flatMap((l) => {
      if (l.startsWith('*')) table = l.slice(1);
      return l.startsWith('-A ') ? [`${table} ${l}`] : [];
    });
    // Each upstream hook is there once (kpr recognised it rather than adding its own beside it).
    for (const hook of ['nat PREROUTING KUBE-SERVICES', 'nat OUTPUT KUBE-SERVICES', 'nat POSTROUTING KUBE-POSTROUTING', 'filter FORWARD KUBE-FORWARD', 'filter OUTPUT KUBE-SERVICES']) {
      const [t, chain, target] = hook.split(' ');
      expect(rules.filter((r) => r.startsWith(`${t} -A ${chain} `) && r.endsWith(`-j ${target}`)), hook).toHaveLength(1);
    }
    const chains = save.split('\n').filter((l) => l.startsWith(':KUBE-')).map((l) => l.split(' ')[0]?.slice(1) ?? '');
    const referenced = new Set(rules.flatMap((r) => /-j (\S+)/.exec(r)?.[1] ?? []));
    const unreferenced = [...new Set(chains.filter((ch) => !referenced.has(ch)))].sort();
    expect(unreferenced).toEqual(['KUBE-IPTABLES-HINT', 'KUBE-PROXY-CANARY']);
  });

  it('kpr-migrate-kube-proxy removes the canaries, and nothing of kpr\'s or kubelet\'s', async () => {
    const kubeChains = async () => (await c.topo.node.exec('iptables-save', [])).stdout.split('\n').filter((l) => l.startsWith(':KUBE-')).sort();
    const before = await kubeChains();
    const r = await c.topo.node.exec('busybox', ['sh', MIGRATE_KUBE_PROXY], { allowFailure: true });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await kubeChains()).toEqual(before.filter((l) => !l.startsWith(':KUBE-PROXY-CANARY ')));
  });

  it('then serves the whole flow table', async () => {
    expect(await runFlows(c.topo, FLOWS, 'iptables')).toEqual([]);
  });
});

/** What kube-proxy's nftables mode (its tables) and IPVS mode (chains only it has, ipsets) leave. */
async function upstreamNftablesAndIpvsLeftovers(node: Netns): Promise<void> {
  await node.exec('nft', ['-f', '-'], {
    input: [
      'table ip kube-proxy {',
      '  comment "rules for kube-proxy"',
      '  chain nat-prerouting { type nat hook prerouting priority dstnat; ip daddr 10.96.0.10 tcp dport 80 dnat to 10.244.2.32:8080; }',
      '}',
      'table ip6 kube-proxy {',
      '  comment "rules for kube-proxy"',
      '  chain nat-prerouting { type nat hook prerouting priority dstnat; }',
      '}',
      '',
    ].join('\n'),
  });
  for (const args of [
    ['create', 'KUBE-CLUSTER-IP', 'hash:ip,port'], ['create', 'KUBE-NODE-PORT-TCP', 'bitmap:port', 'range', '0-65535'],
    ['create', 'KUBE-LOAD-BALANCER-FW', 'hash:ip,port'], ['create', 'KUBE-IPVS-IPS', 'hash:ip'],
    ['create', 'KUBE-6-CLUSTER-IP', 'hash:ip,port', 'family', 'inet6'],
  ]) await node.exec('ipset', args);
  await node.exec('iptables-restore', ['--noflush'], {
    input: [
      '*nat',
      ':KUBE-NODE-PORT - [0:0]',
      ':KUBE-LOAD-BALANCER - [0:0]',
      '-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j RETURN',
      '-A KUBE-LOAD-BALANCER -j RETURN',
      'COMMIT',
      '*filter',
      ':KUBE-NODE-PORT - [0:0]',
      ':KUBE-SOURCE-RANGES-FIREWALL - [0:0]',
      ':KUBE-IPVS-FILTER - [0:0]',
      ':KUBE-IPVS-OUT-FILTER - [0:0]',
      '-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER',
      '-A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT',
      '-A OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER',
      '-A FORWARD -m set --match-set KUBE-LOAD-BALANCER-FW dst,dst -j KUBE-SOURCE-RANGES-FIREWALL',
      '-A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN',
      '-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT --reject-with icmp-port-unreachable',
      '-A KUBE-SOURCE-RANGES-FIREWALL -j DROP',
      'COMMIT',
      '',
    ].join('\n'),
  });
  await node.exec('ip6tables-restore', ['--noflush'], {
    input: ['*filter', ':KUBE-IPVS-FILTER - [0:0]', '-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER',
      '-A KUBE-IPVS-FILTER -m set --match-set KUBE-6-CLUSTER-IP dst,dst -j RETURN', 'COMMIT', ''].join('\n'),
  });
}

const UPSTREAM_ONLY = /KUBE-NODE-PORT\b|KUBE-LOAD-BALANCER\b|KUBE-SOURCE-RANGES-FIREWALL|KUBE-IPVS-FILTER|KUBE-IPVS-OUT-FILTER/;

describe("moving in from kube-proxy's nftables and IPVS modes", () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await Cluster.create('iptables', [], { beforeProxy: (topo) => upstreamNftablesAndIpvsLeftovers(topo.node) });
  }, 120_000);
  afterAll(async () => c?.destroy());

  const leftovers = async () => {
    const node = c.topo.node;
    const save = (await node.exec('iptables-save', [])).stdout + (await node.exec('ip6tables-save', [])).stdout;
    return {
      tables: (await node.exec('nft', ['list', 'tables'])).stdout.split('\n').filter((l) => l.includes('kube-proxy')),
      chains: save.split('\n').filter((l) => UPSTREAM_ONLY.test(l)),
      ipsets: (await node.exec('ipset', ['list', '-n'])).stdout.split('\n').filter((l) => l.startsWith('KUBE-')),
    };
  };
  // The script as the image runs it: busybox's shell.
  const migrate = () => c.topo.node.exec('busybox', ['sh', MIGRATE_KUBE_PROXY], { allowFailure: true });

  it('kpr-migrate-kube-proxy removes what kpr does not rewrite itself, and nothing of kpr\'s', async () => {
    const before = await leftovers();
    expect(before.tables).toEqual(['table ip kube-proxy', 'table ip6 kube-proxy']);
    expect(before.chains.length).toBeGreaterThan(0);
    // kpr's own start-up cleanup of its IPVS mode (the same ipset names, and KUBE-IPVS-FILTER)
    // already destroyed the sets nothing else refers to; these are held by upstream-only chains.
    expect(before.ipsets.sort()).toEqual(['KUBE-LOAD-BALANCER-FW', 'KUBE-NODE-PORT-TCP']);
    const r = await migrate();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await leftovers()).toEqual({ tables: [], chains: [], ipsets: [] });
    expect(await runFlows(c.topo, FLOWS, 'iptables')).toEqual([]);
    // Again: nothing left to do.
    const again = await migrate();
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe('kpr-migrate-kube-proxy: done');
  });
});
