// The jumps from the built-in chains into kpr's must end in the order upstream's proxier
// leaves (the load-balancer firewall before the health-check accepts), on a fresh node and
// on a node where an older kpr inserted them in reverse, without touching others' rules.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NamespaceSet, type Netns } from '../../lab/netns.ts';
import { newState, program } from '../../test/support/flows-fixture.ts';
import { OBJECTS } from '../../lab/flow-table.ts';
import { IptablesProxier } from './proxier.ts';
import { iptablesTables } from './apply.ts';

const UPSTREAM = {
  INPUT: ['KUBE-FIREWALL', 'KUBE-PROXY-FIREWALL', 'KUBE-NODEPORTS', 'KUBE-EXTERNAL-SERVICES'],
  FORWARD: ['KUBE-PROXY-FIREWALL', 'KUBE-FORWARD', 'KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES'],
  OUTPUT: ['KUBE-FIREWALL', 'KUBE-PROXY-FIREWALL', 'KUBE-SERVICES'],
};

/** Targets of the filter built-in chains' rules, in kernel order. */
async function builtins(ns: Netns): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = { INPUT: [], FORWARD: [], OUTPUT: [] };
  for (const line of (await ns.exec('iptables-save', ['-t', 'filter'])).stdout.split('\n')) {
    const m = /^-A (INPUT|FORWARD|OUTPUT) .*-j (\S+)$/.exec(line);
    if (m) out[m[1] as string]?.push(m[2] as string);
  }
  return out;
}

describe('iptables jumps from the built-in chains', () => {
  const set = new NamespaceSet();
  let ns: Netns;
  beforeAll(async () => {
    ns = await set.create('jumps');
  });
  afterAll(() => set.destroyAll());

  const sync = () => program(newState(), [new IptablesProxier({ family: 4, tables: iptablesTables(4, ['ip', 'netns', 'exec', ns.name]) })], OBJECTS, true);

  it('end in upstream order on a fresh node, and a second sync leaves them alone', async () => {
    await sync();
    expect(await builtins(ns)).toEqual(UPSTREAM);
    const before = (await ns.exec('iptables-save', ['-t', 'filter', '-c'])).stdout;
    await sync();
    expect(await builtins(ns)).toEqual(UPSTREAM);
    // Not rewritten: the rules (and their counters) are the same lines.
    const rules = (s: string) => s.split('\n').filter((l) => /^\[\d+:\d+\] -A (INPUT|FORWARD|OUTPUT) /.test(l));
    expect(rules((await ns.exec('iptables-save', ['-t', 'filter', '-c'])).stdout)).toEqual(rules(before));
  });

  it('are put in upstream order where an older kpr left them reversed, keeping foreign rules', async () => {
    // What kpr before this fix left: its list inserted one by one at position 1.
    const old = [
      '-A INPUT -s 203.0.113.1/32 -j ACCEPT',
      '-I INPUT 1 -j KUBE-FIREWALL',
      '-I INPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
      '-I INPUT 1 -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
      '-I INPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
      '-I FORWARD 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
      '-I FORWARD 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    ];
    await ns.exec('iptables', ['-F', 'INPUT']);
    await ns.exec('iptables', ['-F', 'FORWARD']);
    await ns.exec('iptables-restore', ['--noflush'], { input: `*filter\n${old.join('\n')}\nCOMMIT\n` });
    expect((await builtins(ns)).INPUT).toEqual(['KUBE-PROXY-FIREWALL', 'KUBE-NODEPORTS', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FIREWALL', 'ACCEPT']);

    await sync();
    expect(await builtins(ns)).toEqual({ ...UPSTREAM, INPUT: [...UPSTREAM.INPUT, 'ACCEPT'] });
  });
});
