import { describe, expect, it } from 'vitest';
import { asProgrammed, diffNetwork, type CurrentNetwork } from './diff.ts';
import type { NetNode } from './nodes.ts';
import { DEVICE_NAMES, planNetwork, vtepMAC, type DesiredNetwork, type PlanInput, type Underlay } from './plan.ts';

const underlay: Underlay = { name: 'eth0', mtu: 1500, addresses: [{ family: 4, local: '192.168.10.1', prefixlen: 24 }, { family: 6, local: 'fd00:a::1', prefixlen: 64 }] };
const node = (name: string, n: number, ip4: string, ip6?: string, macs = true): NetNode => ({
  name,
  podCIDRs: { 4: `10.244.${n}.0/24`, 6: `fd00:10:244:${n}::/64` },
  internalIPs: { 4: ip4, ...(ip6 && { 6: ip6 }) },
  vtepMACs: macs ? { 4: vtepMAC(name, 4), 6: vtepMAC(name, 6) } : {},
});
const self = node('a', 1, '192.168.10.1', 'fd00:a::1');
const b = node('b', 2, '192.168.10.2', 'fd00:a::2');
const c = node('c', 3, '192.168.20.3', 'fd00:b::3');
const input = (over: Partial<PlanInput> = {}): PlanInput => ({ backend: 'vxlan', directRouting: false, vni: 1, port: 8472, self, peers: [b, c], underlay, ...over });
const empty: CurrentNetwork = { devices: [], routes: [], neighbours: [], fdb: [] };

/** The kernel as it would be after applying `desired` from scratch (a copy the tests may change). */
const asCurrent = (d: DesiredNetwork): CurrentNetwork => structuredClone(asProgrammed(d));

describe('planNetwork', () => {
  it('vxlan: a device per family at the pod CIDR network address, and per peer a route via its VTEP, a neighbour and an FDB entry to its InternalIP', () => {
    const d = planNetwork(input());
    expect(d.devices.map((x) => [x.name, x.addresses, x.local, x.mtu])).toEqual([
      ['kpr-vxlan4', ['10.244.1.0/32'], '192.168.10.1', 1450],
      ['kpr-vxlan6', ['fd00:10:244:1::/128'], 'fd00:a::1', 1430],
    ]);
    expect(d.podMTU).toBe(1430);
    expect(d.routes).toContainEqual({ family: 4, dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'kpr-vxlan4', onlink: true });
    expect(d.neighbours).toContainEqual({ dev: 'kpr-vxlan6', ip: 'fd00:10:244:3::', mac: vtepMAC('c', 6) });
    expect(d.fdb).toContainEqual({ dev: 'kpr-vxlan4', mac: vtepMAC('c', 4), dst: '192.168.20.3' });
    expect(d.fdb).toContainEqual({ dev: 'kpr-vxlan6', mac: vtepMAC('c', 6), dst: 'fd00:b::3' });
    expect(d.peers).toBe(2);
    expect(d.routes).toHaveLength(4);
  });

  it('vxlan without IPv6 InternalIPs carries both overlays on the IPv4 device (one VNI, port and local address admit one device)', () => {
    const v4only = (name: string, n: number, ip4: string): NetNode => ({ ...node(name, n, ip4), vtepMACs: { 4: vtepMAC(name, 4), 6: vtepMAC(name, 4) } });
    const d = planNetwork(input({ self: v4only('a', 1, '192.168.10.1'), peers: [v4only('b', 2, '192.168.10.2')] }));
    expect(d.devices).toEqual([expect.objectContaining({ name: 'kpr-vxlan4', families: [4, 6], local: '192.168.10.1', mtu: 1450, addresses: ['10.244.1.0/32', 'fd00:10:244:1::/128'] })]);
    expect(d.routes).toContainEqual({ family: 6, dst: 'fd00:10:244:2::/64', via: 'fd00:10:244:2::', dev: 'kpr-vxlan4', onlink: true });
    expect(d.neighbours).toContainEqual({ dev: 'kpr-vxlan4', ip: 'fd00:10:244:2::', mac: vtepMAC('b', 4) });
    expect(d.fdb).toEqual([{ dev: 'kpr-vxlan4', mac: vtepMAC('b', 4), dst: '192.168.10.2' }]);
    expect(d.skipped).toEqual([]);
    expect(d.podMTU).toBe(1450);
  });

  it('vxlan on an IPv6-only cluster: one IPv6 device over IPv6, 70 bytes', () => {
    const v6 = (name: string, n: number, ip6: string): NetNode => ({ name, podCIDRs: { 6: `fd00:10:244:${n}::/64` }, internalIPs: { 6: ip6 }, vtepMACs: { 6: vtepMAC(name, 6) } });
    const d = planNetwork(input({ self: v6('a', 1, 'fd00:a::1'), peers: [v6('b', 2, 'fd00:a::2')] }));
    expect(d.devices.map((x) => [x.name, x.local, x.mtu])).toEqual([['kpr-vxlan6', 'fd00:a::1', 1430]]);
    expect(d.routes).toEqual([{ family: 6, dst: 'fd00:10:244:2::/64', via: 'fd00:10:244:2::', dev: 'kpr-vxlan6', onlink: true }]);
    expect(d.podMTU).toBe(1430);
  });

  it('vxlan skips a peer without a VTEP MAC yet, naming it', () => {
    const d = planNetwork(input({ peers: [node('b', 2, '192.168.10.2', 'fd00:a::2', false)] }));
    expect(d.routes).toEqual([]);
    expect(d.skipped.map((s) => [s.node, s.family])).toEqual([['b', 4], ['b', 6]]);
  });

  it('host-gw: routes via the InternalIP of peers on a connected subnet; names the others as unreachable', () => {
    const d = planNetwork(input({ backend: 'host-gw' }));
    expect(d.devices).toEqual([]);
    expect(d.podMTU).toBe(1500);
    expect(d.routes).toEqual([
      { family: 4, dst: '10.244.2.0/24', via: '192.168.10.2', dev: 'eth0', onlink: false },
      { family: 6, dst: 'fd00:10:244:2::/64', via: 'fd00:a::2', dev: 'eth0', onlink: false },
    ]);
    expect(d.skipped).toEqual([
      { node: 'c', family: 4, reason: 'InternalIP 192.168.20.3 is not on a directly connected subnet of eth0', unreachable: true },
      { node: 'c', family: 6, reason: 'InternalIP fd00:b::3 is not on a directly connected subnet of eth0', unreachable: true },
    ]);
    expect(d.peers).toBe(1);
  });

  it('direct routing: host-gw routes to connected peers, VXLAN to the rest', () => {
    const d = planNetwork(input({ directRouting: true }));
    expect(d.routes.filter((r) => r.family === 4)).toEqual([
      { family: 4, dst: '10.244.2.0/24', via: '192.168.10.2', dev: 'eth0', onlink: false },
      { family: 4, dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'kpr-vxlan4', onlink: true },
    ]);
    expect(d.fdb.map((f) => f.dst)).toEqual(['192.168.20.3', 'fd00:b::3']);
  });

  it('a peer claiming this node\'s pod CIDR or another peer\'s is skipped, the rest carries on', () => {
    const dup = { ...node('z', 2, '192.168.10.9'), name: 'z' };
    const d = planNetwork(input({ peers: [b, c, dup] }));
    expect(d.skipped.map((s) => s.node)).toEqual(['z', 'z']);
    expect(d.skipped[0]?.reason).toContain("Node b's");
    expect(d.peers).toBe(2);
  });
});

describe('diffNetwork', () => {
  it('programs everything from scratch: devices first, then neighbours and routes, FDB entries by bridge', () => {
    const ops = diffNetwork(empty, planNetwork(input()), DEVICE_NAMES);
    expect(ops.ip[0]).toBe('link add kpr-vxlan4 type vxlan id 1 local 192.168.10.1 dev eth0 dstport 8472 nolearning');
    expect(ops.ip).toContain('route add 10.244.3.0/24 via 10.244.3.0 dev kpr-vxlan4 onlink proto 107');
    expect(ops.ip).toContain(`neigh replace 10.244.3.0 lladdr ${vtepMAC('c', 4)} dev kpr-vxlan4 nud permanent`);
    expect(ops.bridge).toContain(`fdb append ${vtepMAC('c', 4)} dev kpr-vxlan4 dst 192.168.20.3 self permanent`);
  });

  it('changes nothing when the kernel is right (a restart does not flap)', () => {
    const d = planNetwork(input());
    expect(diffNetwork(asCurrent(d), d, DEVICE_NAMES)).toEqual({ ip: [], bridge: [] });
  });

  it('replaces a changed route, deletes a stale one, and appends a changed FDB remote before deleting the old', () => {
    const d = planNetwork(input());
    const cur = asCurrent(d);
    cur.routes.push({ family: 4, dst: '10.244.9.0/24', via: '10.244.9.0', dev: 'kpr-vxlan4', onlink: true });
    cur.neighbours.push({ dev: 'kpr-vxlan4', ip: '10.244.9.0', mac: '02:00:00:00:00:09' });
    cur.fdb.push({ dev: 'kpr-vxlan4', mac: '02:00:00:00:00:09', dst: '192.168.10.9' });
    const moved = cur.fdb.find((f) => f.dst === '192.168.20.3');
    if (moved) moved.dst = '192.168.20.99';
    const r2 = cur.routes.find((r) => r.dst === '10.244.2.0/24');
    if (r2) r2.via = '10.244.2.9';
    const ops = diffNetwork(cur, d, DEVICE_NAMES);
    expect(ops.ip).toEqual([
      'neigh del 10.244.9.0 dev kpr-vxlan4',
      'route del 10.244.9.0/24 via 10.244.9.0 dev kpr-vxlan4 onlink proto 107',
      'route replace 10.244.2.0/24 via 10.244.2.0 dev kpr-vxlan4 onlink proto 107',
    ]);
    expect(ops.bridge).toEqual([
      `fdb append ${vtepMAC('c', 4)} dev kpr-vxlan4 dst 192.168.20.3 self permanent`,
      `fdb del ${vtepMAC('c', 4)} dev kpr-vxlan4 dst 192.168.20.99 self`,
      'fdb del 02:00:00:00:00:09 dev kpr-vxlan4 dst 192.168.10.9 self',
    ]);
  });

  it('recreates a device whose VXLAN attributes changed, and does not name the entries that went with it', () => {
    const d = planNetwork(input({ vni: 2 }));
    const ops = diffNetwork(asCurrent(planNetwork(input())), d, DEVICE_NAMES);
    expect(ops.ip.filter((l) => l.startsWith('link del'))).toEqual(['link del kpr-vxlan4', 'link del kpr-vxlan6']);
    expect(ops.ip.some((l) => l.startsWith('route del') || l.startsWith('neigh del') || l.startsWith('route replace'))).toBe(false);
    expect(ops.ip.filter((l) => l.startsWith('route add'))).toHaveLength(4);
    expect(ops.bridge.every((l) => l.startsWith('fdb append'))).toBe(true);
  });

  it('switching to host-gw deletes the VXLAN devices and turns the routes into host-gw ones', () => {
    const ops = diffNetwork(asCurrent(planNetwork(input())), planNetwork(input({ backend: 'host-gw' })), DEVICE_NAMES);
    expect(ops.ip).toEqual([
      'link del kpr-vxlan4', 'link del kpr-vxlan6',
      'route add 10.244.2.0/24 via 192.168.10.2 dev eth0 proto 107',
      'route add fd00:10:244:2::/64 via fd00:a::2 dev eth0 proto 107',
    ]);
    expect(ops.bridge).toEqual([]);
  });

  it('fixes MTU, MAC, address and link state in place', () => {
    const d = planNetwork(input());
    const cur = asCurrent(d);
    const dev = cur.devices[0];
    if (!dev) throw new Error('no device');
    Object.assign(dev, { mtu: 1500, mac: '02:00:00:00:00:01', up: false, addresses: ['10.244.7.0/32'] });
    expect(diffNetwork(cur, d, DEVICE_NAMES).ip).toEqual([
      'link set kpr-vxlan4 mtu 1450', `link set kpr-vxlan4 address ${vtepMAC('a', 4)}`,
      'addr del 10.244.7.0/32 dev kpr-vxlan4', 'addr add 10.244.1.0/32 dev kpr-vxlan4', 'link set kpr-vxlan4 up',
    ]);
  });
});
