// The contract between the mode-independent daemon and one proxy mode for one IP
// family (upstream runs one single-family proxier per family, and so do we).
import type { IPFamily } from '../lib/ip.ts';
import type { ProxySnapshot } from './model/types.ts';

export type { ProxyMode } from './config/config.ts';
import type { ProxyMode } from './config/config.ts';

/** How traffic from this node's pods is recognised (upstream's --detect-local-mode). */
export type LocalDetector =
  | { mode: 'ClusterCIDR' | 'NodeCIDR'; cidrs: readonly string[] }
  | { mode: 'BridgeInterface'; interfaceName: string }
  | { mode: 'InterfaceNamePrefix'; prefix: string }
  | { mode: 'None' };

/** Settings that shape the rules of every mode, already narrowed to one family. */
export interface RulesConfig {
  family: IPFamily;
  masqueradeAll: boolean;
  /** The masquerade mark as a hex string, e.g. "0x4000" (bit 14). */
  masqueradeMark: string;
  localDetector: LocalDetector;
  /**
   * Addresses that accept NodePorts: undefined means every local address (upstream's
   * match-all); otherwise the node's addresses inside --nodeport-addresses.
   */
  nodePortIPs: readonly string[] | undefined;
  /** This node's primary address in the family ("" when unknown), e.g. for source-range checks. */
  nodeIP: string;
  /** IPv4 only: NodePorts on 127.0.0.1 (iptables mode; upstream's localhostNodePorts). */
  localhostNodePorts: boolean;
  /** nf_conntrack_tcp_be_liberal is on: no INVALID-state drop rule is needed. */
  conntrackTCPLiberal: boolean;
  /**
   * The cluster's service CIDRs in this family (from ServiceCIDR objects): nftables mode
   * drops traffic to their unallocated addresses, as upstream does. Other modes ignore it.
   */
  serviceCIDRs?: readonly string[];
}

export interface SyncRequest {
  snapshot: ProxySnapshot;
  config: RulesConfig;
  /** ServicePort keys changed since the last successful sync; undefined asks for a full sync. */
  changed: ReadonlySet<string> | undefined;
}

export interface SyncResult {
  /** Whether this sync rewrote everything (first sync, requested, or forced by an earlier failure). */
  full: boolean;
  /** Rules (or table operations) written to the kernel, for metrics and logs. */
  operations: number;
}

export interface ProxyBackend {
  readonly mode: ProxyMode;
  readonly family: IPFamily;
  /** Programs the kernel. A failure throws; the next call then syncs fully. */
  sync(req: SyncRequest): Promise<SyncResult>;
  /** Removes everything this mode owns in this family; never touches what it does not own. */
  cleanup(): Promise<void>;
}
