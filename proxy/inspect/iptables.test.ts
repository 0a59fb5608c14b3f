import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasIptablesMode, parseIptablesView } from './iptables.ts';
import { checkFlowCluster, frontend } from '../../test/support/inspect.ts';

const read = (path: string) => readFileSync(join(import.meta.dirname, path), 'utf8');

// The golden rulesets are restore input (kpr's match order, several sections per
// table); the testdata files are the same cluster as iptables-save prints it.
const inputs = [
  ['golden restore input', (f: 4 | 6) => read(`../../test/golden/iptables-ipv${f}.txt`)],
  ['kernel iptables-save', (f: 4 | 6) => read(`testdata/flows-ipv${f}.iptables-save`)],
] as const;

describe.each(inputs)('iptables inspection of the flow-table cluster (%s)', (_, text) => {
  for (const family of [4, 6] as const) {
    it(`shows every Service with its backends (IPv${family})`, () => {
      const view = parseIptablesView(text(family), family);
      expect(view.mode).toBe('iptables');
      checkFlowCluster(view);
      const services = new Set(view.frontends.map((f) => f.service));
      expect([...services].sort()).toEqual([
        'flows/empty:dns', 'flows/empty:p', 'flows/extip:p', 'flows/extiplocal:p', 'flows/hairpin:p', 'flows/itplocal:p', 'flows/itplocalok:p', 'flows/lb:p',
        'flows/lblocal:p', 'flows/lbnode:p', 'flows/np:p', 'flows/nplocal:p', 'flows/nplocalnone:p', 'flows/sctp:p', 'flows/sticky:p', 'flows/term:p',
        'flows/termonly:p', 'flows/web:dns', 'flows/web:p', 'flows/zonal:p',
      ]);
    });
  }
  it('says which addresses accept NodePorts', () => {
    expect(parseIptablesView(text(4), 4).nodePortAddresses).toBe('local addresses');
    expect(parseIptablesView(text(6), 6).nodePortAddresses).toBe('local addresses except ::1/128');
  });
});

describe('iptables inspection details', () => {
  it('detects the mode by the nat KUBE-SERVICES chain', () => {
    expect(hasIptablesMode(read('testdata/flows-ipv4.iptables-save'))).toBe(true);
    expect(hasIptablesMode('*filter\n:KUBE-SERVICES - [0:0]\nCOMMIT\n*nat\n:KUBE-IPVS-SERVICES - [0:0]\nCOMMIT\n')).toBe(false);
  });

  it('computes shares from an uneven cascade and reads listed NodePort addresses', () => {
    const save = [
      '*nat',
      '-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "ns/a:p cluster IP" -m tcp --dport 80 -j KUBE-SVC-A',
      '-A KUBE-SERVICES -d 192.0.2.1/32 -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -j KUBE-NODEPORTS',
      '-A KUBE-SVC-A -m statistic --mode random --probability 0.25000000000 -j KUBE-SEP-1',
      '-A KUBE-SVC-A -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-2',
      '-A KUBE-SVC-A -j KUBE-SEP-3',
      ...[1, 2, 3].map((i) => `-A KUBE-SEP-${i} -p tcp -m tcp -j DNAT --to-destination 10.0.0.${i}:8080`),
      'COMMIT',
    ].join('\n');
    const view = parseIptablesView(save, 4);
    expect(frontend(view, 'tcp', '10.96.0.1', 80)).toMatchObject({
      service: 'ns/a:p', masquerade: 'none',
      backends: [{ address: '10.0.0.1', probability: 0.25 }, { address: '10.0.0.2', probability: 0.375 }, { address: '10.0.0.3', probability: 0.375 }],
    });
    expect(view.nodePortAddresses).toBe('192.0.2.1');
  });

  it('reads IPv6 DNAT targets in brackets', () => {
    const save = [
      '*nat',
      '-A KUBE-SERVICES -d fd00:96::1/128 -p tcp -m tcp --dport 80 -j KUBE-SVC-A',
      '-A KUBE-SVC-A -j KUBE-SEP-1',
      '-A KUBE-SEP-1 -p tcp -m tcp -j DNAT --to-destination [fd00:10::0005]:8080',
      'COMMIT',
    ].join('\n');
    expect(frontend(parseIptablesView(save, 6), 'tcp', 'fd00:96::1', 80).backends).toEqual([{ address: 'fd00:10::5', port: 8080, probability: 1 }]);
  });
});
