// NetworkPlanner's incremental updates against a full plan from scratch: randomised
// sequences of Node adds, updates and deletes (pod CIDR and VTEP MAC clashes included,
// this node's own pod CIDR too) must always leave the same plan, and give the same kernel ops.
import { describe, expect, it } from 'vitest';
import { asProgrammed, diffNetwork, diffPeers, type NetworkOps } from './diff.ts';
import type { NetNode } from './nodes.ts';
import { DEVICE_NAMES, NetworkPlanner, planNetwork, type DesiredNetwork, type PlanContext, type Underlay } from './plan.ts';

const underlay: Underlay = { name: 'eth0', mtu: 1500, addresses: [{ family: 4, local: '192.168.10.1', prefixlen: 24 }, { family: 6, local: 'fd00:a::1', prefixlen: 64 }] };
const self: NetNode = { name: 'n05', podCIDRs: { 4: '10.244.0.0/24', 6: 'fd00:10:244::/64' }, internalIPs: { 4: '192.168.10.1', 6: 'fd00:a::1' }, vtepMACs: {} };

/** A small deterministic PRNG (mulberry32), so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random peer from small pools, so that pod CIDRs, MACs and unreachable InternalIPs collide often. */
function randomPeer(name: string, r: () => number): NetNode {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const n = pick([0, 1, 2, 3, 4, 5]);
  const mac = () => `02:00:00:00:00:0${pick([1, 2, 3, 4, 5])}`;
  const node: NetNode = {
    name,
    podCIDRs: { 4: `10.244.${n}.0/24`, ...(r() < 0.8 && { 6: `fd00:10:244:${pick([0, 1, 2, 3, 4, 5])}::/64` }) },
    internalIPs: { 4: pick(['192.168.10.2', '192.168.10.3', '192.168.20.4']), ...(r() < 0.7 && { 6: pick(['fd00:a::2', 'fd00:b::3']) }) },
    vtepMACs: {},
  };
  if (r() < 0.9) node.vtepMACs[4] = mac();
  if (r() < 0.8) node.vtepMACs[6] = mac();
  return node;
}

const sorted = (ops: NetworkOps) => ({ ip: [...ops.ip].sort(), bridge: [...ops.bridge].sort() });

function counts(d: DesiredNetwork) {
  const fam = (ip: string) => (ip.includes(':') ? 6 : 4);
  const by = <T>(xs: T[], f: (x: T) => number) => ({ 4: xs.filter((x) => f(x) === 4).length, 6: xs.filter((x) => f(x) === 6).length });
  return { route: by(d.routes, (r) => r.family), neighbour: by(d.neighbours, (n) => fam(n.ip)), fdb: by(d.fdb, (f) => fam(f.dst)) };
}

describe('NetworkPlanner', () => {
  const contexts: [string, PlanContext][] = [
    ['vxlan', { backend: 'vxlan', directRouting: false, vni: 1, port: 8472, self, underlay }],
    ['vxlan --direct-routing', { backend: 'vxlan', directRouting: true, vni: 1, port: 8472, self, underlay }],
    ['host-gw', { backend: 'host-gw', directRouting: false, vni: 1, port: 8472, self, underlay }],
    ['vxlan, IPv4-only node (one shared device)', { backend: 'vxlan', directRouting: false, vni: 1, port: 8472, self: { ...self, internalIPs: { 4: '192.168.10.1' } }, underlay }],
  ];
  for (const [what, ctx] of contexts) {
    it(`${what}: incremental updates always equal a full plan, with the same kernel ops`, () => {
      for (let seed = 1; seed <= 40; seed++) {
        const r = rng(seed);
        const planner = new NetworkPlanner(ctx);
        const peers = new Map<string, NetNode>();
        let prev = planNetwork({ ...ctx, peers: [] });
        for (let step = 0; step < 40; step++) {
          const changes = new Map<string, NetNode | undefined>();
          for (let k = 1 + Math.floor(r() * 3); k > 0; k--) {
            const name = `n${String(Math.floor(r() * 12)).padStart(2, '0')}`;
            if (name === self.name) continue;
            const peer = r() < 0.25 ? undefined : randomPeer(name, r);
            changes.set(name, peer);
            if (peer) peers.set(name, peer);
            else peers.delete(name);
          }
          const { before, after } = planner.update(changes);
          const full = planNetwork({ ...ctx, peers: [...peers.values()] });
          const where = `seed ${seed} step ${step}`;
          expect(planner.desired(), where).toEqual(full);
          expect(sorted(diffPeers(planner.devices, before, after)), where).toEqual(sorted(diffNetwork(asProgrammed(prev), full, DEVICE_NAMES)));
          expect(planner.counts, where).toEqual(counts(full));
          expect(planner.peers, where).toBe(full.peers);
          prev = full;
        }
      }
    });
  }
});
