// Synthetic peer Nodes for the pod-network agent at scale (tests and benchmarks): each
// with an IPv4 and IPv6 pod CIDR, InternalIPs on the 172.16/12 underlay and published
// VTEP MACs, as a running agent would have annotated them. Peers need no namespaces: the
// agent only programs routes, neighbours and FDB entries towards them.
export function peerNode(i: number, podCIDRGeneration = 0): Record<string, unknown> {
  const hi = i >> 8;
  const lo = i & 255;
  const mac = (prefix: string) => `02:00:00:${prefix}:${hi.toString(16).padStart(2, '0')}:${lo.toString(16).padStart(2, '0')}`;
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: `peer-${i}`, annotations: { 'kpr.io/vxlan-vtep-mac': mac('01'), 'kpr.io/vxlan6-vtep-mac': mac('02') } },
    spec: { podCIDRs: [`10.${100 + hi + 32 * podCIDRGeneration}.${lo}.0/24`, `fd00:${(0x99 + podCIDRGeneration).toString(16)}:${i.toString(16)}::/64`] },
    status: { addresses: [{ type: 'InternalIP', address: `172.16.${hi}.${lo}` }, { type: 'InternalIP', address: `fd00:172:16::${i.toString(16)}` }] },
  };
}

/** The agent's own Node, on 172.31.0.1 / fd00:172:31::1 (the test gives eth0 those addresses). */
export const SELF_NODE = {
  apiVersion: 'v1', kind: 'Node', metadata: { name: 'self' },
  spec: { podCIDRs: ['10.99.0.0/24', 'fd00:99:ffff::/64'] },
  status: { addresses: [{ type: 'InternalIP', address: '172.31.0.1' }, { type: 'InternalIP', address: 'fd00:172:31::1' }] },
};

/** The underlay link the agent finds by its InternalIP. */
export const SELF_UNDERLAY = ['link add eth0 type veth peer name eth1', 'link set eth0 up', 'link set eth1 up', 'addr add 172.31.0.1/16 dev eth0', 'addr add fd00:172:31::1/64 dev eth0 nodad'];
