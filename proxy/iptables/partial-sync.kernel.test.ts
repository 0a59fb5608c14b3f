// Partial syncs must leave the kernel exactly as a full sync of the same state would:
// a sequence of changes applied partially in one namespace is compared, rule by rule,
// with one full sync of the final state in another.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NamespaceSet, type Netns } from '../../lab/netns.ts';
import { changesFrom, newState, program, rulesConfig } from '../../test/support/flows-fixture.ts';
import { OBJECTS } from '../../lab/flow-table.ts';
import { service, slices, type Obj } from '../../lab/objects.ts';
import { IptablesProxier } from './proxier.ts';
import { iptablesTables } from './apply.ts';

/** Chains holding one independent rule per ServicePort: their order carries no meaning. */
const UNORDERED = new Set(['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-EXTERNAL-SERVICES', 'KUBE-PROXY-FIREWALL', 'INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING']);
const CATCH_ALL = /kubernetes service nodeports; NOTE/;

/** Rules per "table/chain": in kernel order where order matters, sorted where it does not. */
async function save(ns: Netns, family: 4 | 6): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  let table = '';
  for (const line of (await ns.exec(family === 4 ? 'iptables-save' : 'ip6tables-save', [])).stdout.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    const chain = /^(?::|-A )(\S+)/.exec(line)?.[1];
    if (!chain) continue;
    const key = `${table}/${chain}`;
    out[key] ??= [];
    if (line.startsWith('-A')) out[key].push(line);
  }
  for (const [key, rules] of Object.entries(out)) {
    const chain = key.split('/')[1] ?? '';
    if (!UNORDERED.has(chain)) continue;
    // The NodePort catch-all must stay last in nat KUBE-SERVICES; the rest is a set.
    const tail = key === 'nat/KUBE-SERVICES' ? rules.filter((r) => CATCH_ALL.test(r)) : [];
    out[key] = [...rules.filter((r) => !tail.includes(r)).sort(), ...tail];
    if (key === 'nat/KUBE-SERVICES') expect(CATCH_ALL.test(rules.at(-1) ?? ''), `${key} must end with the NodePort catch-all`).toBe(true);
  }
  return out;
}

describe('iptables partial syncs', () => {
  const set = new NamespaceSet();
  let partialNs: Netns;
  let fullNs: Netns;
  beforeAll(async () => {
    partialNs = await set.create('partial');
    fullNs = await set.create('full');
  });
  afterAll(() => set.destroyAll());

  it('end where one full sync of the final state ends, and only touch what changed', async () => {
    const proxiers = (ns: Netns) => [4, 6].map((f) => new IptablesProxier({ family: f as 4 | 6, tables: iptablesTables(f as 4 | 6, ['ip', 'netns', 'exec', ns.name]) }));
    const partial = proxiers(partialNs);
    const state = newState();
    await program(state, partial, OBJECTS, true);

    const web = [{ port: 80, targetPort: 8080 }, { name: 'dns', port: 53, protocol: 'UDP' as const, targetPort: 5353 }];
    const steps: Obj[][] = [
      slices('web', web, ['s1']), // endpoints removed
      slices('web', web, ['s1', 's2', 'r1', 'r2']), // endpoints added
      [service({ name: 'new', type: 'NodePort', clusterIP: '10.96.2.1', clusterIP6: 'fd00:96::2:1', ports: [{ port: 80, targetPort: 8080, nodePort: 30999 }] })],
      slices('new', [{ port: 80, targetPort: 8080 }], ['s1']), // no endpoints -> endpoints
      slices('np', [{ port: 80, targetPort: 8080 }], []), // endpoints -> none (REJECT rules appear)
      [service({ name: 'sticky', clusterIP: '10.96.0.70', clusterIP6: 'fd00:96::70', ports: [{ port: 80, targetPort: 8080 }] })], // affinity off
      slices('np', [{ port: 80, targetPort: 8080 }], ['r1', 's1']), // none -> endpoints again
    ];
    const changedOnly = await Promise.all(partial.map(async () => 0));
    for (const objs of steps) {
      const { services, slices: sl } = changesFrom(objs);
      const changes = state.apply(services, sl);
      for (const [i, p] of partial.entries()) {
        const snapshot = state.snapshot(p.family);
        const changed = changes.get(p.family)?.changed;
        if (!snapshot || !changed) continue;
        const r = await p.sync({ snapshot, config: rulesConfig(p.family), changed });
        expect(r.full).toBe(false);
        changedOnly[i] = Math.max(changedOnly[i] ?? 0, r.operations);
      }
    }
    // Deleting a Service's chains and rules also goes partially.
    const deletion = state.apply(new Map([['flows/new', null]]), new Map());
    for (const p of partial) {
      const snapshot = state.snapshot(p.family);
      if (snapshot) await p.sync({ snapshot, config: rulesConfig(p.family), changed: deletion.get(p.family)?.changed });
    }

    // The same final state, written at once.
    const full = proxiers(fullNs);
    for (const p of full) {
      const snapshot = state.snapshot(p.family);
      if (snapshot) await p.sync({ snapshot, config: rulesConfig(p.family), changed: undefined });
    }
    for (const family of [4, 6] as const) {
      expect(await save(partialNs, family)).toEqual(await save(fullNs, family));
    }
    // A partial restore is small: no step wrote more than a few dozen lines, the full one hundreds.
    expect(Math.max(...changedOnly)).toBeLessThan(60);
  });
});
