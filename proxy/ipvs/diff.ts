// Current IPVS table versus the desired one -> the ipvsadm operations that turn one
// into the other, ordered so that no virtual server is ever empty in between: services
// and their new real servers come first, removals last. Real servers that leave a TCP or
// SCTP service while they still carry connections are drained at weight 0 instead of
// deleted (upstream's graceful termination); UDP ones are deleted at once.
import { sortRealServers, type IpvsOperation } from './ipvsadm.ts';
import { rsKey, vsKey, hostPort, type RealServer, type VirtualServer } from './types.ts';

export interface DiffOptions {
  /** Whether kpr may delete this current virtual server (its family, outside excludeCIDRs). */
  owned(vs: VirtualServer): boolean;
  /** Active + inactive connections per real server (rsKey); a missing entry means idle. */
  connections: ReadonlyMap<string, number>;
}

export interface IpvsDiff {
  ops: IpvsOperation[];
  /** Real servers kept at weight 0 because connections still use them. */
  draining: Array<{ vs: VirtualServer; rs: RealServer }>;
}

const byKey = (list: readonly VirtualServer[]) => new Map(list.map((vs) => [vsKey(vs), vs]));
const rsId = (rs: RealServer) => hostPort(rs.address, rs.port);

function sameService(a: VirtualServer, b: VirtualServer): boolean {
  return a.scheduler === b.scheduler && a.persistentTimeout === b.persistentTimeout && a.flags.join(',') === b.flags.join(',');
}

/** Real servers of current services that the desired state drops while the service stays. */
function leavingServers(current: readonly VirtualServer[], desired: ReadonlyMap<string, VirtualServer>): Array<{ vs: VirtualServer; rs: RealServer }> {
  const out: Array<{ vs: VirtualServer; rs: RealServer }> = [];
  for (const cur of current) {
    const want = desired.get(vsKey(cur));
    if (!want) continue;
    const keep = new Set(want.realServers.map(rsId));
    for (const rs of cur.realServers) if (!keep.has(rsId(rs))) out.push({ vs: cur, rs });
  }
  return out;
}

/** The services whose connection counts the diff needs: a TCP/SCTP real server leaves them. */
export function servicesNeedingCounts(current: readonly VirtualServer[], desired: readonly VirtualServer[]): VirtualServer[] {
  const out = new Map<string, VirtualServer>();
  for (const { vs } of leavingServers(current, byKey(desired))) if (vs.protocol !== 'udp') out.set(vsKey(vs), vs);
  return [...out.values()];
}

export function diffIpvs(current: readonly VirtualServer[], desired: readonly VirtualServer[], opts: DiffOptions): IpvsDiff {
  const cur = byKey(current);
  const want = byKey(desired);
  const sortedDesired = [...want.keys()].sort().map((k) => want.get(k) as VirtualServer);
  const editServices: IpvsOperation[] = [];
  const addServices: IpvsOperation[] = [];
  const addServers: IpvsOperation[] = [];
  const editServers: IpvsOperation[] = [];
  const deleteServers: IpvsOperation[] = [];
  const deleteServices: IpvsOperation[] = [];
  const draining: IpvsDiff['draining'] = [];

  for (const vs of sortedDesired) {
    const have = cur.get(vsKey(vs));
    if (!have) {
      addServices.push({ op: 'add-service', vs });
      for (const rs of vs.realServers) addServices.push({ op: 'add-server', vs, rs });
      continue;
    }
    if (!sameService(have, vs)) editServices.push({ op: 'edit-service', vs });
    const existing = new Map(have.realServers.map((rs) => [rsId(rs), rs]));
    for (const rs of vs.realServers) {
      const old = existing.get(rsId(rs));
      if (!old) addServers.push({ op: 'add-server', vs, rs });
      else if (old.weight !== rs.weight || old.forward !== rs.forward) editServers.push({ op: 'edit-server', vs, rs });
    }
  }

  for (const { vs, rs } of leavingServers([...cur.keys()].sort().map((k) => cur.get(k) as VirtualServer), want)) {
    if (vs.protocol !== 'udp' && (opts.connections.get(rsKey(vs, rs)) ?? 0) > 0) {
      draining.push({ vs, rs: { ...rs, weight: 0 } });
      if (rs.weight !== 0) editServers.push({ op: 'edit-server', vs, rs: { ...rs, weight: 0 } });
    } else {
      deleteServers.push({ op: 'delete-server', vs, rs });
    }
  }

  for (const key of [...cur.keys()].sort()) {
    const vs = cur.get(key) as VirtualServer;
    if (!want.has(key) && opts.owned(vs)) deleteServices.push({ op: 'delete-service', vs });
  }

  return {
    ops: [...editServices, ...addServices, ...addServers, ...editServers, ...deleteServers, ...deleteServices],
    draining,
  };
}

/**
 * The owned part of the table once the diff is applied: the desired services plus
 * the draining real servers. Partial syncs diff against it instead of reading the kernel.
 */
export function tableAfter(desired: readonly VirtualServer[], draining: IpvsDiff['draining']): VirtualServer[] {
  const extra = new Map<string, RealServer[]>();
  for (const { vs, rs } of draining) extra.set(vsKey(vs), [...(extra.get(vsKey(vs)) ?? []), rs]);
  return desired.map((vs) => {
    const more = extra.get(vsKey(vs));
    return more ? { ...vs, realServers: sortRealServers([...vs.realServers, ...more]) } : vs;
  });
}
