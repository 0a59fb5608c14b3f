// Dual-stack pods on Nodes that have IPv4 InternalIPs only: the IPv6 overlay rides the
// IPv4 underlay (50 bytes) on the IPv4 device (the kernel admits one VXLAN device per VNI,
// port and local address), across the routed hop too.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NetworkCluster, NODES, nodeObject, podIP } from '../lab/network-cluster.ts';

let c: NetworkCluster;

beforeAll(async () => {
  c = await NetworkCluster.create();
  for (const s of NODES) {
    const obj = nodeObject(s) as { status: { addresses: { type: string; address: string }[] } };
    obj.status.addresses = obj.status.addresses.filter((a) => !a.address.includes(':'));
    c.api.apply(obj);
  }
  await c.startAll();
  await c.waitPeers(2);
}, 120_000);

afterAll(async () => {
  await c?.destroy();
});

it('carries IPv6 pod traffic over an IPv4 underlay, with the pod source kept', async () => {
  const a = c.node('a');
  expect(c.readNodeFile('a')).toMatchObject({ mtu: 1450 });
  expect((await a.ns.exec('ip', ['link', 'show', 'type', 'vxlan'])).stdout).not.toContain('kpr-vxlan6');
  const link = JSON.parse((await a.ns.exec('ip', ['-d', '-j', 'addr', 'show', 'dev', 'kpr-vxlan4'])).stdout)[0];
  expect(link.linkinfo.info_data.local).toBe('192.168.10.1');
  expect(link.addr_info.filter((x: { scope: string }) => x.scope === 'global').map((x: { local: string }) => x.local)).toEqual(['10.244.1.0', 'fd00:10:244:1::']);
  // Both annotations name the one device's MAC.
  expect(c.annotations('a')['kpr.io/vxlan6-vtep-mac']).toBe(link.address);
  expect(c.annotations('a')['kpr.io/vxlan-vtep-mac']).toBe(link.address);
  expect((await a.ns.exec('ip', ['-6', 'route', 'show', 'proto', '107'])).stdout).toContain('fd00:10:244:3::/64 via fd00:10:244:3:: dev kpr-vxlan4 metric 1024 onlink');
  const pc = c.node('c');
  await pc.podAgent.listen('tcp', 8080, 'pod-c');
  const r = await c.node('a').podAgent.call({ op: 'probe', proto: 'tcp', host: podIP(pc.spec.pod6), port: 8080, timeoutMs: 3000 });
  expect(r).toMatchObject({ ok: true, reply: `pod-c ${podIP(c.node('a').spec.pod6)}` });
});
