// Rows of the shared flow table (test/flows/table.ts) where the IPVS mode ends up
// elsewhere than the iptables mode, each with its reason; proxy/ipvs/README.md lists
// the same. These override the table's own `modes.ipvs` entries.
import type { Expectation } from '../flows/table.ts';

export interface Difference {
  expect: Expectation;
  why: string;
}

export const IPVS_DIFFERENCES: Readonly<Record<string, Difference>> = {
  'unknown port of a ClusterIP': {
    expect: { blocked: 'REJECT' },
    why: 'the ClusterIP is a local address on kube-ipvs0; KUBE-IPVS-FILTER rejects new connections to ports without a virtual server (upstream, issue #72236)',
  },
  'internalTrafficPolicy Local without local endpoint: dropped': {
    expect: { blocked: 'REJECT' },
    why: 'the virtual server exists without real servers, and IPVS answers a packet it cannot schedule with ICMP port unreachable',
  },
  'NodePort from outside, Local policy, no local endpoint: dropped': {
    expect: { reach: ['r2'], masq: false },
    why: 'upstream IPVS falls back to the cluster endpoints when no local one exists (PR #97081); the Local set keeps the client address (on a real network the reply from another node would bypass this node and break)',
  },
  'NodePort from a pod, Local policy: short-circuit to all endpoints': {
    expect: { reach: ['s1'], masq: false },
    why: 'one virtual server serves every source: with local endpoints present, pods reach only those (no short-circuit to the cluster endpoints)',
  },
  'NodePort from the node, Local policy: all endpoints, masqueraded': {
    expect: { reach: ['s1'], masq: false },
    why: 'same virtual server as external traffic (local endpoints only), and the Local NodePort set returns before the masquerade mark: the backend sees the node address the connection was made from',
  },
};

/** Flow names carry a " (IPv4)" / " (IPv6)" suffix; the table rows do not. */
export function differenceFor(flowName: string): Difference | undefined {
  return IPVS_DIFFERENCES[flowName.replace(/ \(IPv[46]\)$/, '')];
}
