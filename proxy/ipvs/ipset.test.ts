import { describe, expect, it } from 'vitest';
import { ownedIpsets, parseIpsetSave, planIpsetDestroy, planIpsets } from './ipset.ts';

// Shape of `ipset save` (ipset v7.17).
const SAVE = `create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x73ffb6a9
add KUBE-CLUSTER-IP 10.96.0.1,tcp:80
add KUBE-CLUSTER-IP 10.96.0.9,udp:53
create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
add KUBE-NODE-PORT-TCP 30080
create OTHER-SET hash:ip family inet hashsize 1024 maxelem 65536
add OTHER-SET 1.2.3.4
`;

describe('ipsets', () => {
  const owned = new Set(ownedIpsets(4).keys());

  it('parses only the sets the mode owns', () => {
    const got = parseIpsetSave(SAVE, owned);
    expect([...got.keys()]).toEqual(['KUBE-CLUSTER-IP', 'KUBE-NODE-PORT-TCP']);
    expect([...(got.get('KUBE-CLUSTER-IP') ?? [])]).toEqual(['10.96.0.1,tcp:80', '10.96.0.9,udp:53']);
  });

  it('creates missing sets, adds missing and deletes stale members', () => {
    const current = parseIpsetSave(SAVE, owned);
    const desired = new Map([['KUBE-CLUSTER-IP', new Set(['10.96.0.1,tcp:80', '10.96.0.2,tcp:80'])], ['KUBE-LOOP-BACK', new Set(['10.244.1.5,tcp:8080,10.244.1.5'])]]);
    const plan = planIpsets(4, current, desired);
    const lines = plan.text.trimEnd().split('\n');
    expect(lines).toContain('add KUBE-CLUSTER-IP 10.96.0.2,tcp:80');
    expect(lines).toContain('del KUBE-CLUSTER-IP 10.96.0.9,udp:53');
    expect(lines).toContain('del KUBE-NODE-PORT-TCP 30080');
    expect(lines).toContain('create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536');
    expect(lines).toContain('add KUBE-LOOP-BACK 10.244.1.5,tcp:8080,10.244.1.5');
    expect(lines).toContain('create KUBE-HEALTH-CHECK-NODE-PORT bitmap:port range 0-65535');
    expect(lines.filter((l) => l.startsWith('create')).length).toBe(ownedIpsets(4).size - 2);
    expect(lines.some((l) => l.includes('OTHER-SET'))).toBe(false);
    expect(plan.operations).toBe(lines.length);
    // Applying the plan leaves nothing to do.
    expect(planIpsets(4, new Map([...ownedIpsets(4).keys()].map((n) => [n, desired.get(n) ?? new Set<string>()])), desired).text).toBe('');
  });

  it('IPv6 sets are KUBE-6- prefixed and of family inet6', () => {
    const text = planIpsets(6, new Map(), new Map()).text;
    expect(text).toContain('create KUBE-6-CLUSTER-IP hash:ip,port family inet6 hashsize 1024 maxelem 65536\n');
    expect(text).toContain('create KUBE-6-NODE-PORT-TCP bitmap:port range 0-65535\n');
  });

  it('keeps every name within the kernel limit of 31 characters', () => {
    const names = [...ownedIpsets(4).keys(), ...ownedIpsets(6).keys()];
    expect(names.filter((n) => n.length > 31)).toEqual([]);
    expect(new Set(names).size).toBe(names.length);
  });

  it('destroys only existing owned sets', () => {
    expect(planIpsetDestroy(parseIpsetSave(SAVE, owned))).toBe('destroy KUBE-CLUSTER-IP\ndestroy KUBE-NODE-PORT-TCP\n');
  });
});
