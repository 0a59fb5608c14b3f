import { describe, expect, it } from 'vitest';
import { cleanupText, existingJumps, renderIptables, restoreText } from './rules.ts';
import { rulesConfig } from '../../test/support/proxy-model.ts';

const none = { filter: new Set<string>(), nat: new Set<string>() };

describe('renderIptables', () => {
  it('marks ClusterIP traffic not from the cluster CIDR, and writes every chain with its jumps', () => {
    const text = restoreText(renderIptables(rulesConfig()), none);
    expect(text).toContain('-A KUBE-IPVS-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.244.0.0/16 -j KUBE-IPVS-MARK-MASQ\n');
    expect(text).toContain('-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-IPVS-SERVICES\n');
    expect(text).toContain('-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT\n');
    expect(text).toContain('-A KUBE-IPVS-FORWARD -m conntrack --ctstate INVALID -j DROP\n');
    expect(text.split('\n').filter((l) => l.startsWith(':'))).toEqual([
      ':KUBE-IPVS-FILTER - [0:0]', ':KUBE-IPVS-FORWARD - [0:0]', ':KUBE-IPVS-NODE-PORT - [0:0]', ':KUBE-IPVS-OUT-FILTER - [0:0]', ':KUBE-IPVS-PROXY-FIREWALL - [0:0]',
      ':KUBE-IPVS-SOURCE-RANGES - [0:0]',
      ':KUBE-IPVS-LOAD-BALANCER - [0:0]', ':KUBE-IPVS-MARK-MASQ - [0:0]', ':KUBE-IPVS-NODE-PORT - [0:0]', ':KUBE-IPVS-POSTROUTING - [0:0]', ':KUBE-IPVS-SERVICES - [0:0]',
    ]);
  });

  it('follows masqueradeAll, the local detector, the family and conntrack liberal mode', () => {
    const all = renderIptables(rulesConfig({ masqueradeAll: true })).nat.rules.join('\n');
    expect(all).toContain('--match-set KUBE-CLUSTER-IP dst,dst -j KUBE-IPVS-MARK-MASQ');
    const none = renderIptables(rulesConfig({ localDetector: { mode: 'None' } })).nat.rules.join('\n');
    expect(none).toContain('--match-set KUBE-CLUSTER-IP src,dst -j KUBE-IPVS-MARK-MASQ');
    const bridge = renderIptables(rulesConfig({ localDetector: { mode: 'BridgeInterface', interfaceName: 'cni0' } })).nat.rules.join('\n');
    expect(bridge).toContain('dst,dst ! -i cni0 -j');
    const v6 = renderIptables(rulesConfig({ family: 6, localDetector: { mode: 'InterfaceNamePrefix', prefix: 'veth' } }));
    expect(v6.nat.rules[0]).toBe('-A KUBE-IPVS-SERVICES -s ::1/128 -j RETURN');
    expect(v6.nat.rules.join('\n')).toContain('--match-set KUBE-6-CLUSTER-IP dst,dst ! -i veth+ -j');
    expect(renderIptables(rulesConfig({ conntrackTCPLiberal: true })).filter.rules.join('\n')).not.toContain('INVALID');
    expect(() => renderIptables(rulesConfig({ localDetector: { mode: 'ClusterCIDR', cidrs: ['10.0.0.0/16', '10.1.0.0/16'] } }))).toThrow(/one CIDR/);
    const both = { mode: 'ClusterCIDR' as const, cidrs: ['10.244.0.0/16', 'fd00:10:244::/48'] };
    expect(renderIptables(rulesConfig({ family: 6, localDetector: both })).nat.rules.join('\n')).toContain('! -s fd00:10:244::/48 -j');
  });

  it("drops the node's own connections to LB VIP ports whose source ranges leave it out (upstream's KUBE-IPVS-OUT-FILTER)", () => {
    const text = restoreText(renderIptables(rulesConfig(), { lbNoNodeAccess: [{ ip: '198.51.100.7', protocol: 'tcp', port: 80 }, { ip: '198.51.100.7', protocol: 'udp', port: 53 }] }), none);
    expect(text).toContain('-I OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER\n');
    expect(text.split('\n').filter((l) => l.startsWith('-A KUBE-IPVS-OUT-FILTER'))).toEqual([
      '-A KUBE-IPVS-OUT-FILTER -s 198.51.100.7 -m ipvs --vaddr 198.51.100.7 --vproto tcp --vport 80 -j DROP',
      '-A KUBE-IPVS-OUT-FILTER -s 198.51.100.7 -m ipvs --vaddr 198.51.100.7 --vproto udp --vport 53 -j DROP',
    ]);
    expect(restoreText(renderIptables(rulesConfig()), none)).not.toContain('-A KUBE-IPVS-OUT-FILTER');
  });

  it('accepts externalIP traffic in nat before the NodePort rules can mark it', () => {
    const nat = renderIptables(rulesConfig()).nat.rules;
    const accepts = nat.filter((r) => r.includes('KUBE-EXTERNAL-IP') && r.endsWith('-j ACCEPT'));
    expect(accepts).toEqual([
      '-A KUBE-IPVS-SERVICES -m comment --comment "Kubernetes service external ip + port for masquerade and filter purpose" -m set --match-set KUBE-EXTERNAL-IP dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT',
      '-A KUBE-IPVS-SERVICES -m comment --comment "Kubernetes service external ip + port for masquerade and filter purpose" -m set --match-set KUBE-EXTERNAL-IP dst,dst -m addrtype --dst-type LOCAL -j ACCEPT',
      '-A KUBE-IPVS-SERVICES -m comment --comment "Kubernetes service external ip + port with externalTrafficPolicy=local" -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT',
      '-A KUBE-IPVS-SERVICES -m comment --comment "Kubernetes service external ip + port with externalTrafficPolicy=local" -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -m addrtype --dst-type LOCAL -j ACCEPT',
    ]);
    const nodePorts = nat.findIndex((r) => r.endsWith('-j KUBE-IPVS-NODE-PORT'));
    expect(Math.max(...accepts.map((r) => nat.indexOf(r)))).toBeLessThan(nodePorts);
  });

  it('masquerades with --random-fully only where iptables has it', () => {
    const masq = (randomFully?: boolean) => renderIptables(rulesConfig(), { randomFully }).nat.rules.filter((r) => r.includes('requiring SNAT'));
    expect(masq()).toEqual(['-A KUBE-IPVS-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully']);
    expect(masq(false)).toEqual(['-A KUBE-IPVS-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE']);
  });

  it('does not insert jumps that already exist', () => {
    const natSave = '*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-IPVS-SERVICES\n-A OUTPUT -j KUBE-SERVICES\nCOMMIT\n';
    const text = restoreText(renderIptables(rulesConfig()), { filter: new Set(), nat: existingJumps(natSave) });
    expect(text).not.toContain('-I PREROUTING');
    expect(text).toContain('-I OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-IPVS-SERVICES');
  });
});

describe('cleanupText', () => {
  it('removes jumps and chains of the mode only', () => {
    const nat = `*nat
:PREROUTING ACCEPT [0:0]
:KUBE-IPVS-SERVICES - [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-IPVS-SERVICES
-A PREROUTING -j KUBE-SERVICES
-A KUBE-IPVS-SERVICES -s 127.0.0.0/8 -j RETURN
COMMIT
`;
    expect(cleanupText({ filter: '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n', nat })).toBe(
      '*nat\n:KUBE-IPVS-SERVICES - [0:0]\n-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-IPVS-SERVICES\n-X KUBE-IPVS-SERVICES\nCOMMIT\n',
    );
    expect(cleanupText({ filter: '', nat: '' })).toBe('');
  });
});
