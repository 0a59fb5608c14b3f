// Issue 12's attack strings as names that got past validation (kpr render of files, a
// future code path): every mode's ruleset must carry them as inert text, never as rules
// or commands.
import { describe, expect, it } from 'vitest';
import { renderRuleset as renderIptables } from './iptables/ruleset.ts';
import { renderRuleset as renderIpvs } from './ipvs/ruleset.ts';
import type { ServicePort } from './model/types.ts';
import { endpoint, rulesConfig, servicePort, snapshot } from '../test/support/proxy-model.ts';
import { renderRuleset as renderNftables } from './nftables/ruleset.ts';

const IPTABLES_ATTACK = 'p\nCOMMIT\n*filter\n-I INPUT 1 -j ACCEPT\nCOMMIT\n*nat';
const NFT_ATTACK = 'p\nflush ruleset\n';

/** A Service reaching every place a name is written: affinity, NodePort, externalIP, LB with source ranges, eTP Local, health check. */
function ruleset(render: (s: ReturnType<typeof snapshot>) => string, names: Pick<ServicePort, 'namespace' | 'name' | 'portName'>): string {
  const sp = servicePort(names.namespace, names.name, {
    portName: names.portName, nodePort: 30080, externalIPs: ['192.168.9.9'], loadBalancerVIPs: ['5.6.7.8'],
    loadBalancerSourceRanges: ['192.168.0.0/24'], externalPolicyLocal: true, healthCheckNodePort: 30999, affinityTimeoutSeconds: 600,
  });
  const none = servicePort(names.namespace, `${names.name}-none`, { portName: names.portName, clusterIP: '10.96.0.11' });
  return render(snapshot([[sp, [endpoint('10.244.1.5', { isLocal: true }), endpoint('10.244.2.7')]], [none, []]], 4));
}

const MODES = {
  iptables: (s: ReturnType<typeof snapshot>) => renderIptables(s, rulesConfig()),
  nftables: (s: ReturnType<typeof snapshot>) => renderNftables(s, rulesConfig()),
  ipvs: (s: ReturnType<typeof snapshot>) => renderIpvs(s, rulesConfig()),
};

describe.each(Object.entries(MODES))('%s ruleset with hostile names', (_mode, render) => {
  const benign = ruleset(render, { namespace: 'ns', name: 'web', portName: 'p' });
  const lines = (text: string) => text.split('\n');
  it.each([
    ['port name', { namespace: 'ns', name: 'web', portName: IPTABLES_ATTACK }],
    ['port name', { namespace: 'ns', name: 'web', portName: NFT_ATTACK }],
    ['name', { namespace: 'ns', name: `web"${IPTABLES_ATTACK}\\`, portName: 'p' }],
    ['namespace', { namespace: `ns\\"\r${NFT_ATTACK}#`, name: 'web', portName: 'p' }],
  ])('keeps an injection in the %s inert', (_where, names) => {
    const hostile = ruleset(render, names);
    // Names only ever change text within a line: the same lines, the same commands.
    expect(lines(hostile).length).toBe(lines(benign).length);
    const verbs = (text: string) => lines(text).map((l) => (l.startsWith(':') ? ':' : l.split(' ')[0])).sort();
    expect(verbs(hostile)).toEqual(verbs(benign));
    expect(hostile).not.toMatch(/^(-I INPUT 1 -j ACCEPT|flush ruleset|COMMIT\n\*filter\n-I INPUT 1 -j ACCEPT)$/m);
  });
});
