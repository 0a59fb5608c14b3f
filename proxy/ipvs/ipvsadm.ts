// ipvsadm text in both directions: `ipvsadm -S -n` (save format) and `ipvsadm -L -n`
// (connection counts) parsed into plain data, operations formatted as `ipvsadm -R` input.
import { KprError } from '../../lib/errors.ts';
import { normalizeIP } from '../../lib/ip.ts';
import { hostPort, rsKey, type ForwardMethod, type IpvsProtocol, type RealServer, type VirtualServer } from './types.ts';
import { ProxyError } from '../errors.ts';

export type IpvsOperation =
  | { op: 'add-service' | 'edit-service' | 'delete-service'; vs: VirtualServer }
  | { op: 'add-server' | 'edit-server' | 'delete-server'; vs: VirtualServer; rs: RealServer };

const SERVICE_OPTS: Record<string, IpvsProtocol> = {
  '-t': 'tcp', '--tcp-service': 'tcp', '-u': 'udp', '--udp-service': 'udp', '--sctp-service': 'sctp',
};
const FORWARD_OPTS: Record<string, ForwardMethod> = {
  '-m': 'masq', '--masquerading': 'masq', '-g': 'gate', '--gatewaying': 'gate', '-i': 'ipip', '--ipip': 'ipip',
};
const FORWARD_FLAGS: Record<ForwardMethod, string> = { masq: '-m', gate: '-g', ipip: '-i' };
const PROTOCOL_OPTS: Record<IpvsProtocol, string> = { tcp: '-t', udp: '-u', sctp: '--sctp-service' };
/** ipvsadm -L names protocols in upper case; FWM (firewall-mark services) is not ours. */
const LIST_PROTOCOLS: Record<string, IpvsProtocol> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

/** "10.0.0.1:80" or "[fd00::1]:80" -> normalized address and port. */
export function parseHostPort(s: string): { address: string; port: number } {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(s) ?? /^([0-9.]+):(\d+)$/.exec(s);
  const address = m ? normalizeIP(m[1] ?? '') : undefined;
  const port = Number(m?.[2]);
  if (!address || !Number.isInteger(port) || port > 65535) {
    throw new ProxyError('IPVSADM_PARSE', `not an address:port: "${s}"`);
  }
  return { address, port };
}

interface Line {
  verb: string;
  protocol: IpvsProtocol | undefined;
  service: string;
  opts: Map<string, string | true>;
}

/** Splits one save-format line into its verb, service and options (flags map to true). */
function tokenize(line: string): Line {
  const words = line.trim().split(/\s+/);
  const verb = words[0] ?? '';
  let protocol: IpvsProtocol | undefined;
  let service = '';
  const opts = new Map<string, string | true>();
  for (let i = 1; i < words.length; i++) {
    const w = words[i] ?? '';
    const next = words[i + 1];
    if (w in SERVICE_OPTS || w === '-f' || w === '--fwmark-service') {
      protocol = SERVICE_OPTS[w];
      service = next ?? '';
      i++;
    } else if (w in FORWARD_OPTS) {
      opts.set('forward', FORWARD_OPTS[w] as ForwardMethod);
    } else if (next !== undefined && !next.startsWith('-')) {
      opts.set(w, next);
      i++;
    } else {
      opts.set(w, true);
    }
  }
  return { verb, protocol, service, opts };
}

function optString(opts: Map<string, string | true>, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = opts.get(n);
    if (typeof v === 'string') return v;
  }
  return undefined;
}

/**
 * Parses `ipvsadm -S -n` into virtual servers with their real servers. Firewall-mark
 * services are left out: kpr never creates them, so it never owns them.
 */
export function parseIpvsadmSave(text: string): VirtualServer[] {
  const services = new Map<string, { vs: VirtualServer; realServers: RealServer[] }>();
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    const line = tokenize(raw);
    if (line.verb !== '-A' && line.verb !== '-a') throw new ProxyError('IPVSADM_PARSE', `unexpected ipvsadm -S line: "${raw}"`);
    if (!line.protocol) continue; // firewall-mark service or one of its real servers
    const { address, port } = parseHostPort(line.service);
    const key = `${line.protocol}/${hostPort(address, port)}`;
    if (line.verb === '-A') {
      const flags = optString(line.opts, '-b', '--sched-flags');
      const vs: VirtualServer = {
        protocol: line.protocol,
        address,
        port,
        scheduler: optString(line.opts, '-s', '--scheduler') ?? 'wlc',
        persistentTimeout: Number(optString(line.opts, '-p', '--persistent') ?? 0),
        flags: flags ? flags.split(',').sort() : [],
        realServers: [],
      };
      services.set(key, { vs, realServers: [] });
      continue;
    }
    const owner = services.get(key);
    if (!owner) throw new ProxyError('IPVSADM_PARSE', `real server before its service: "${raw}"`);
    const rs = parseHostPort(optString(line.opts, '-r', '--real-server') ?? '');
    owner.realServers.push({
      ...rs,
      weight: Number(optString(line.opts, '-w', '--weight') ?? 1),
      forward: (line.opts.get('forward') as ForwardMethod | undefined) ?? 'gate',
    });
  }
  return [...services.values()].map(({ vs, realServers }) => ({ ...vs, realServers: sortRealServers(realServers) }));
}

export function sortRealServers(list: readonly RealServer[]): RealServer[] {
  return [...list].sort((a, b) => (a.address === b.address ? a.port - b.port : a.address < b.address ? -1 : 1));
}

/**
 * Connections (active + inactive) per real server (keyed by rsKey) from `ipvsadm -L -n`:
 * the save format has no counters, and graceful termination needs them.
 */
export function parseIpvsadmConnections(text: string): Map<string, number> {
  const out = new Map<string, number>();
  let current: { protocol: IpvsProtocol; address: string; port: number } | undefined;
  for (const raw of text.split('\n')) {
    const header = /^(TCP|UDP|SCTP|FWM)\s+(\S+)/.exec(raw);
    if (header) {
      const protocol = LIST_PROTOCOLS[header[1] ?? ''];
      current = protocol ? { protocol, ...parseHostPort(header[2] ?? '') } : undefined;
      continue;
    }
    const dest = /^\s+->\s+(\S+)\s+\S+\s+\d+\s+(\d+)\s+(\d+)/.exec(raw);
    if (dest && current && dest[1] !== 'RemoteAddress:Port') {
      out.set(rsKey(current, parseHostPort(dest[1] ?? '')), Number(dest[2]) + Number(dest[3]));
    }
  }
  return out;
}

/** The service selector of an ipvsadm command line, e.g. "-t 10.96.0.1:80". */
export function serviceArgs(vs: Pick<VirtualServer, 'protocol' | 'address' | 'port'>): string {
  return `${PROTOCOL_OPTS[vs.protocol]} ${hostPort(vs.address, vs.port)}`;
}

function serviceSpec(vs: VirtualServer): string {
  let s = `${serviceArgs(vs)} -s ${vs.scheduler}`;
  if (vs.persistentTimeout > 0) s += ` -p ${vs.persistentTimeout}`;
  if (vs.flags.length > 0) s += ` -b ${vs.flags.join(',')}`;
  return s;
}

/** One operation as an `ipvsadm -R` line. */
export function formatOperation(o: IpvsOperation): string {
  switch (o.op) {
    case 'add-service': return `-A ${serviceSpec(o.vs)}`;
    case 'edit-service': return `-E ${serviceSpec(o.vs)}`;
    case 'delete-service': return `-D ${serviceArgs(o.vs)}`;
    case 'add-server':
    case 'edit-server':
      return `${o.op === 'add-server' ? '-a' : '-e'} ${serviceArgs(o.vs)} -r ${hostPort(o.rs.address, o.rs.port)} ${FORWARD_FLAGS[o.rs.forward]} -w ${o.rs.weight}`;
    case 'delete-server': return `-d ${serviceArgs(o.vs)} -r ${hostPort(o.rs.address, o.rs.port)}`;
  }
}

/** `ipvsadm -R` input for the operations, in the given order ("" when there are none). */
export function formatRestore(ops: readonly IpvsOperation[]): string {
  return ops.map((o) => `${formatOperation(o)}\n`).join('');
}
