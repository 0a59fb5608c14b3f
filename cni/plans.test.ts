import { describe, expect, it } from 'vitest';
import { checkNameForAdd, parseNetConf } from './config.ts';
import { planBridge } from './bridge.ts';
import { planRouted } from './routed.ts';
import type { AttachInput } from './attach.ts';
import { attachmentAlias, hostVethName, parseAttachmentAlias } from './names.ts';
import { missingAddresses } from './check.ts';
import { describeOp, toleratedFailure } from './link-ops.ts';
import { missingRoutes, settleTakenRoutes } from './routes.ts';
import { staleHostVeths, validAttachments } from './gc.ts';

const conf = (o: Record<string, unknown> = {}) => parseNetConf({ type: 'kpr-cni', ipam: { type: 'kpr-ipam' }, ...o }, 'net', '1.0.0');

function input(o: Partial<AttachInput> = {}): AttachInput {
  return {
    conf: conf(), netns: '/run/netns/p', ifName: 'eth0', mtu: 1450, hostVeth: 'kpr0123456789ab', hostMac: '02:00:00:00:00:01',
    containerMac: '02:00:00:00:00:02', alias: 'kpr-cni/net/c1/eth0', bridgeExists: false,
    addresses: [{ address: '10.244.1.5/24', gateway: '10.244.1.1' }, { address: 'fd00:244:1::5/64' }], routes: [], ...o,
  };
}

describe('bridge mode plan', () => {
  it('creates the bridge with both gateways, the veth as a hairpin port, and default routes in the pod', () => {
    const p = planBridge(input());
    expect(p.hostOps.map(describeOp)).toEqual([
      'link add kpr0 mtu 1450 address ' + p.interfaces[0]?.mac + ' type bridge',
      'addr replace 10.244.1.1/24 dev kpr0',
      'addr replace fd00:244:1::1/64 dev kpr0 nodad',
      'link set kpr0 up',
      'link add kpr0123456789ab mtu 1450 address 02:00:00:00:00:01 type veth peer name eth0 mtu 1450 address 02:00:00:00:00:02 netns /run/netns/p',
      'link set kpr0123456789ab alias kpr-cni/net/c1/eth0',
      'link set kpr0123456789ab master kpr0',
      'link set kpr0123456789ab type bridge_slave hairpin on',
      'link set kpr0123456789ab up',
    ]);
    expect(p.containerOps).toEqual([
      { op: 'add-addr', dev: 'eth0', cidr: '10.244.1.5/24', nodad: false },
      { op: 'add-addr', dev: 'eth0', cidr: 'fd00:244:1::5/64', nodad: true },
      { op: 'set-up', dev: 'eth0' },
    ]);
    expect(p.containerOps.map(describeOp)).toEqual(['addr add 10.244.1.5/24 dev eth0', 'addr add fd00:244:1::5/64 dev eth0 nodad', 'link set eth0 up']);
    expect(p.routeOps).toEqual([
      { op: 'add-route', dst: '0.0.0.0/0', gw: '10.244.1.1', dev: 'eth0', onlink: false },
      { op: 'add-route', dst: '::/0', gw: 'fd00:244:1::1', dev: 'eth0', onlink: false },
    ]);
    expect(p.routeOps.map(describeOp)).toEqual(['route add 0.0.0.0/0 via 10.244.1.1 dev eth0', 'route add ::/0 via fd00:244:1::1 dev eth0']);
    // A taken destination is reported back as "File exists", for routes.ts to settle.
    expect(p.routeOps.map(toleratedFailure)).toEqual([{ errno: 17, ipMessage: 'File exists' }, { errno: 17, ipMessage: 'File exists' }]);
    expect(p.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.244.1.1' }, { dst: '::/0', gw: 'fd00:244:1::1' }]);
    expect(p.containerSysctls).toEqual([['net/ipv6/conf/eth0/accept_dad', '0']]);
    expect(p.hostSysctls).toEqual([['net/ipv4/ip_forward', '1'], ['net/ipv6/conf/all/forwarding', '1']]);
    expect(p.ips).toEqual([
      { address: '10.244.1.5/24', gateway: '10.244.1.1', interface: 2 },
      { address: 'fd00:244:1::5/64', gateway: 'fd00:244:1::1', interface: 2 },
    ]);
    expect(p.interfaces[2]).toEqual({ name: 'eth0', mac: '02:00:00:00:00:02', mtu: 1450, sandbox: '/run/netns/p' });
  });

  it('reuses an existing bridge, honours hairpinMode false and takes IPAM routes instead of a default', () => {
    const p = planBridge(input({ bridgeExists: true, conf: conf({ hairpinMode: false }), addresses: [{ address: '10.244.1.5/24' }], routes: [{ dst: '10.96.0.0/12' }] }));
    expect(p.hostOps.some((o) => o.op === 'add-bridge')).toBe(false);
    expect(p.hostOps.some((o) => o.op === 'set-hairpin')).toBe(false);
    expect(p.routes).toEqual([{ dst: '10.96.0.0/12', gw: '10.244.1.1' }]);
    expect(p.containerSysctls).toEqual([]);
    expect(p.containerOps.map(describeOp)).toEqual(['addr add 10.244.1.5/24 dev eth0', 'link set eth0 up']);
  });

  it("carries an IPAM route's MTU into the pod's route", () => {
    const p = planBridge(input({ addresses: [{ address: '10.244.1.5/24' }], routes: [{ dst: '10.96.0.0/12', mtu: 1400 }] }));
    expect(p.routeOps).toEqual([{ op: 'add-route', dst: '10.96.0.0/12', gw: '10.244.1.1', dev: 'eth0', onlink: false, mtu: 1400 }]);
    expect(p.routeOps.map(describeOp)).toEqual(['route add 10.96.0.0/12 via 10.244.1.1 dev eth0 mtu 1400']);
  });
});

describe('routed mode plan', () => {
  it('gives the pod /32 and /128 behind link-local gateways answered by proxy ARP / NDP', () => {
    const p = planRouted(input({ conf: conf({ mode: 'routed' }), routes: [{ dst: '10.96.0.0/12', gw: '10.244.1.1' }] }));
    expect(p.hostOps.map(describeOp).slice(2)).toEqual([
      'link set kpr0123456789ab up',
      'route replace 10.244.1.5/32 dev kpr0123456789ab scope link',
      'route replace fd00:244:1::5/128 dev kpr0123456789ab scope link',
      'neigh add proxy fe80::1 dev kpr0123456789ab',
    ]);
    expect(p.hostSysctls).toContainEqual(['net/ipv4/conf/kpr0123456789ab/proxy_arp', '1']);
    expect(p.hostSysctls).toContainEqual(['net/ipv6/conf/kpr0123456789ab/proxy_ndp', '1']);
    expect(p.hostSysctls).toContainEqual(['net/ipv4/neigh/kpr0123456789ab/proxy_delay', '0']);
    expect(p.containerOps.map(describeOp)).toEqual([
      'addr add 10.244.1.5/32 dev eth0', 'addr add fd00:244:1::5/128 dev eth0 nodad', 'link set eth0 up',
    ]);
    // No route to 169.254.1.1 of its own: a second attachment could not add one.
    expect(p.routeOps).toEqual([
      { op: 'add-route', dst: '10.96.0.0/12', gw: '169.254.1.1', dev: 'eth0', onlink: true },
      { op: 'add-route', dst: '::/0', gw: 'fe80::1', dev: 'eth0', onlink: false },
    ]);
    expect(p.routeOps.map(describeOp)).toEqual(['route add 10.96.0.0/12 via 169.254.1.1 dev eth0 onlink', 'route add ::/0 via fe80::1 dev eth0']);
    expect(p.ips).toEqual([
      { address: '10.244.1.5/32', gateway: '169.254.1.1', interface: 1 },
      { address: 'fd00:244:1::5/128', gateway: 'fe80::1', interface: 1 },
    ]);
  });
});

describe('network config', () => {
  it('fills defaults and ignores unknown keys', () => {
    expect(conf({ somethingElse: 1 })).toMatchObject({ mode: 'bridge', bridge: 'kpr0', ipMasq: false, hairpinMode: true, encapOverhead: 0 });
  });
  it.each([
    [{ mtu: 'big' }, 'key "mtu": expected number'],
    [{ mtu: 20 }, 'key "mtu": expected at least 68'],
    [{ mode: 'vxlan' }, 'key "mode": expected one of "bridge", "routed"'],
    [{ ipMasq: 'yes' }, 'key "ipMasq": expected boolean'],
    [{ bridge: 'a-much-too-long-name' }, 'key "bridge"'],
    [{ clusterCIDRs: ['10.0.0.0/33'] }, 'key "clusterCIDRs.0"'],
    [{ ipam: undefined }, 'key "ipam": missing'],
  ])('refuses %j with code 7 naming the key', (o, msg) => {
    expect(() => conf(o)).toThrow(expect.objectContaining({ code: 7, message: expect.stringContaining(msg) }));
  });
  it('refuses a bridge name ip -batch would cut and a network name too long for the attachment label', () => {
    expect(() => conf({ bridge: 'br#0' })).toThrow(expect.objectContaining({ code: 7, message: expect.stringContaining('key "bridge"') }));
    const named = (name: string) => parseNetConf({ type: 'kpr-cni', ipam: { type: 'kpr-ipam' } }, name, '1.0.0');
    expect(() => checkNameForAdd(named('n'.repeat(32)))).not.toThrow();
    expect(() => checkNameForAdd(named('n'.repeat(33)))).toThrow(expect.objectContaining({ code: 7, message: expect.stringContaining('at most 32') }));
    // The longest label kpr-cni makes fits an nftables comment (128 bytes) and a link alias (255).
    expect(attachmentAlias({ network: 'n'.repeat(32), containerId: 'f'.repeat(64), ifName: 'i'.repeat(15) }).length).toBeLessThanOrEqual(128);
  });
});

describe('names, CHECK and GC helpers', () => {
  it('derives a 15-byte host veth name and an alias GC can read back', () => {
    const a = { network: 'net', containerId: 'c1', ifName: 'eth0' };
    expect(hostVethName(a)).toMatch(/^kpr[0-9a-f]{12}$/);
    expect(hostVethName(a)).not.toBe(hostVethName({ ...a, ifName: 'net1' }));
    expect(parseAttachmentAlias(attachmentAlias(a))).toEqual(a);
  });
  it('finds missing addresses and routes in ip -j output', () => {
    const link = { addr_info: [{ local: '10.244.1.5', prefixlen: 24 }] };
    expect(missingAddresses(['10.244.1.5/24', 'fd00::5/64'], link)).toEqual(['fd00::5/64']);
    const live = [{ dst: 'default', gateway: '10.244.1.1' }, { dst: '10.96.0.0/12', gateway: '10.244.1.1' }, { dst: 'default', gateway: 'fe80::1', pref: 'medium' }];
    expect(missingRoutes([{ dst: '0.0.0.0/0', gw: '10.244.1.1' }, { dst: '::/0', gw: 'fe80::1' }, { dst: '10.96.0.0/12', gw: '10.244.1.1' }], live)).toEqual([]);
    expect(missingRoutes([{ dst: '10.97.0.0/16', gw: '10.244.1.1' }], live)).toEqual([{ dst: '10.97.0.0/16', gw: '10.244.1.1' }]);
  });
  it('settles routes a second attachment found taken: identical is done, a default is left to the other, else a clash', () => {
    const live = [
      { dst: 'default', gateway: '10.244.1.1', dev: 'eth0', flags: [] },
      { dst: '10.96.0.0/12', gateway: '10.244.1.1', dev: 'eth0' },
      { dst: '10.97.0.0/16', gateway: '10.245.1.1', dev: 'net1' },
      { dst: 'default', gateway: 'fe80::1', dev: 'eth0', pref: 'medium' },
      { dst: 'default', gateway: '10.9.9.9', dev: 'eth0', table: '100' },
    ];
    const taken = [
      { dst: '0.0.0.0/0', gw: '10.245.1.1' }, { dst: '::/0', gw: 'fe80::1' },
      { dst: '10.97.0.0/16', gw: '10.245.1.1' }, { dst: '10.96.0.0/12', gw: '10.245.1.1' },
    ];
    expect(settleTakenRoutes(taken, live, 'net1')).toEqual({
      leftOut: [{ dst: '0.0.0.0/0', gw: '10.245.1.1' }, { dst: '::/0', gw: 'fe80::1' }],
      clashes: ['10.96.0.0/12 (the pod has 10.96.0.0/12 via 10.244.1.1 dev eth0)'],
    });
    // A default route only in another table is no default of the pod's: a clash, not left out.
    expect(settleTakenRoutes([{ dst: '0.0.0.0/0', gw: '10.245.1.1' }], live.slice(4), 'net1').leftOut).toEqual([]);
  });

  it('reads valid attachments from either key and picks stale veths of this network only', () => {
    expect(validAttachments({ 'cni.dev/attachments': [{ containerID: 'a', ifname: 'eth0' }] })).toEqual([{ containerId: 'a', ifName: 'eth0' }]);
    expect(() => validAttachments({ 'cni.dev/valid-attachments': 'all' })).toThrow(expect.objectContaining({ code: 7 }));
    const links = [
      { ifname: 'kprA', ifalias: 'kpr-cni/net/a/eth0' }, { ifname: 'kprB', ifalias: 'kpr-cni/net/b/eth0' },
      { ifname: 'kprC', ifalias: 'kpr-cni/other/b/eth0' }, { ifname: 'veth0' },
    ];
    expect(staleHostVeths(links, 'net', new Set(['a/eth0']))).toEqual(['kprB']);
  });
});
