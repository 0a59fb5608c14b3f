import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNftablesView } from '../inspect/nftables.ts';
import { parseIptablesView } from '../inspect/iptables.ts';
import { conditionHolds, explain, type Packet } from './explain.ts';

const data = (f: string) => readFileSync(join(import.meta.dirname, '../inspect/testdata', f), 'utf8');
const nft = parseNftablesView(data('flows-ipv4.nft.json'), 4);
const ipt = parseIptablesView(data('flows-ipv4.iptables-save'), 4);
const LOCAL = new Set(['127.0.0.1', '192.0.2.1', '10.244.1.1']);
const tcp = (src: string, dst: string, port: number, from: Packet['from'] = 'pod'): Packet => ({ protocol: 'tcp', src, dst, port, from });

describe('kpr explain (pure) on the flow-table cluster as the kernel holds it', () => {
  it('a pod to a ClusterIP: every endpoint, source kept; the pod reaching itself is masqueraded (hairpin)', () => {
    const e = explain(nft, tcp('10.244.1.21', '10.96.0.10', 80), LOCAL);
    expect(e).toMatchObject({ outcome: 'balanced', frontend: { kind: 'ClusterIP', service: 'flows/web:p' } });
    expect(e.backends?.map((b) => [b.address, b.masquerade])).toEqual([['10.244.1.21', true], ['10.244.1.22', false], ['10.244.2.31', false]]);
    expect(e.backends?.[0]?.why).toBe('hairpin: the backend is the source itself');
  });

  it('Local NodePort: outside gets the local endpoint, pods and the node short-circuit to all', () => {
    expect(explain(ipt, tcp('192.0.2.10', '192.0.2.1', 30081, 'external'), LOCAL).backends?.map((b) => [b.address, b.masquerade])).toEqual([['10.244.1.21', false]]);
    expect(explain(ipt, tcp('192.0.2.1', '192.0.2.1', 30081, 'node'), LOCAL).backends?.map((b) => [b.address, b.masquerade])).toEqual([['10.244.1.21', true], ['10.244.2.31', true]]);
    expect(explain(nft, tcp('192.0.2.10', '192.0.2.1', 30082, 'external'), LOCAL)).toMatchObject({ outcome: 'DROP', reason: 'no local endpoints' });
  });

  it('names the rule that refuses: source ranges, no endpoints, cluster-ips-check; or no rule at all', () => {
    expect(explain(nft, tcp('192.0.2.10', '198.51.100.20', 80, 'external'), LOCAL).reason).toBe('source 192.0.2.10 is not in loadBalancerSourceRanges (192.0.2.20)');
    expect(explain(ipt, tcp('10.244.1.10', '10.96.0.20', 80), LOCAL)).toMatchObject({ outcome: 'REJECT', reason: 'no endpoints' });
    expect(explain(nft, tcp('10.244.1.10', '10.96.0.10', 81), LOCAL)).toMatchObject({ outcome: 'REJECT', reason: 'cluster-ips-check: a ClusterIP, not on this port' });
    expect(explain(nft, tcp('10.244.1.10', '10.96.0.250', 80), LOCAL).outcome).toBe('DROP');
    expect(explain(ipt, tcp('10.244.1.10', '10.96.0.250', 80), LOCAL).outcome).toBe('unrouted');
    expect(explain(nft, tcp('192.0.2.1', '127.0.0.1', 30080, 'node'), LOCAL).outcome).toBe('local');
    expect(explain(ipt, tcp('192.0.2.1', '127.0.0.1', 30080, 'node'), LOCAL).outcome).toBe('balanced');
  });

  it('reads the masquerade conditions kpr inspect prints', () => {
    const f = nft.frontends[0];
    if (!f) throw new Error('no frontend');
    expect(conditionHolds('src != 10.244.0.0/16', tcp('192.0.2.10', 'x', 1, 'external'), f)).toBe(true);
    expect(conditionHolds('src != 10.244.0.0/16', tcp('10.244.1.10', 'x', 1), f)).toBe(false);
    expect(conditionHolds('src-type local', tcp('192.0.2.1', 'x', 1, 'node'), f)).toBe(true);
    expect(conditionHolds('src 10.0.0.0/8, src-type local; src-type != local', tcp('192.0.2.10', 'x', 1, 'external'), f)).toBe(true);
    expect(conditionHolds('none', tcp('192.0.2.10', 'x', 1, 'external'), f)).toBe(false);
  });
});
