// IPVS keeps its own packet and byte counters per virtual and real server:
// `ipvsadm -L -n --stats --exact` -> packets and bytes (both directions) on the view's
// frontends and backends, which conntrack only has with nf_conntrack_acct. Pure.
import { parseHostPort } from '../ipvs/ipvsadm.ts';
import { vsKey, rsKey, type IpvsProtocol } from '../ipvs/types.ts';
import type { Stats, View } from './model.ts';

interface Counters {
  packets: number;
  bytes: number;
}

const PROTOCOLS: Record<string, IpvsProtocol> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

/** vsKey and rsKey -> counters, from the lines "PROT ADDR:PORT CONNS INPKTS OUTPKTS INBYTES OUTBYTES" and "  -> ADDR:PORT ...". */
export function parseIpvsStats(text: string): Map<string, Counters> {
  const out = new Map<string, Counters>();
  let current: { protocol: IpvsProtocol; address: string; port: number } | undefined;
  const counters = (m: RegExpExecArray): Counters => ({ packets: Number(m[3]) + Number(m[4]), bytes: Number(m[5]) + Number(m[6]) });
  for (const line of text.split('\n')) {
    const vs = /^(TCP|UDP|SCTP)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    if (vs) {
      const protocol = PROTOCOLS[vs[1] ?? ''] as IpvsProtocol;
      current = { protocol, ...parseHostPort(vs[2] ?? '') };
      out.set(vsKey(current), { packets: Number(vs[4]) + Number(vs[5]), bytes: Number(vs[6]) + Number(vs[7]) });
      continue;
    }
    // Another header (FWM services, column titles): its real servers are not ours.
    if (/^\S/.test(line)) current = undefined;
    const rs = /^\s+->\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    if (rs && current) out.set(rsKey(current, parseHostPort(rs[1] ?? '')), counters(rs));
  }
  return out;
}

/** The view (with `stats`) with IPVS's packets and bytes on every virtual and real server it lists. */
export function withIpvsCounters(view: View, counters: ReadonlyMap<string, Counters>): View {
  const set = (s: Stats | undefined, c: Counters | undefined) => {
    if (s && c) Object.assign(s, c);
  };
  for (const f of view.frontends) {
    set(f.stats, counters.get(vsKey(f)));
    for (const b of f.backends) set(b.stats, counters.get(rsKey(f, b)));
  }
  return view;
}
