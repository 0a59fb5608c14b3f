import { describe, expect, it } from 'vitest';
import type { BaseRules, ServiceRules } from './render.ts';
import { CHAINS_PER_RESTORE, planFull } from './restore-plan.ts';

const BASE: BaseRules = { filterChains: [], natChains: ['KUBE-SERVICES'], filterRules: [], natRules: [], natServicesTail: [], jumps: [] };

/** ServicePorts with one chain each, counting how many the planner has read. */
function servicesCounting(n: number, read: { count: number }): Iterable<ServiceRules> {
  return {
    *[Symbol.iterator]() {
      for (let i = 0; i < n; i++) {
        read.count++;
        yield { natChains: new Map([[`KUBE-SVC-${i}`, [`-A KUBE-SVC-${i} -j KUBE-MARK-MASQ`]]]), natShared: [`-A KUBE-SERVICES -d 10.0.${i >> 8}.${i & 255} -j KUBE-SVC-${i}`], filterShared: [] };
      }
    },
  };
}

describe('planFull', () => {
  it('reads the ServicePorts one restore batch at a time (a full sync never holds every chain\'s rules)', () => {
    const read = { count: 0 };
    const restores = planFull(BASE, servicesCounting(3 * CHAINS_PER_RESTORE, read), { natChains: new Set(), jumps: { filter: [], nat: [] } })[Symbol.iterator]();
    const first = restores.next();
    expect(first.done).toBe(false);
    expect(read.count).toBeLessThanOrEqual(CHAINS_PER_RESTORE);
    const all = [first.value as string, ...{ [Symbol.iterator]: () => restores }];
    expect(read.count).toBe(3 * CHAINS_PER_RESTORE);
    // Batches of service chains, then the shared chains with every ServicePort's jump.
    expect(all.length).toBeGreaterThanOrEqual(4);
    const shared = all.at(-1) ?? '';
    expect(shared.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES ')).length).toBe(3 * CHAINS_PER_RESTORE);
  });
});
