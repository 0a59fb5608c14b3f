// Stale UDP conntrack cleanup against a real conntrack table, in a namespace of its own
// (the cleanup runs in a child inside it, test/support/conntrack-in-netns.ts): entries
// inserted with `conntrack -I`, then exactly the stale ones must be gone — through
// ctnetlink, and through the `conntrack -D` fallback.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NamespaceSet, type Netns } from '../../lab/netns.ts';
import { viaConntrackTool } from './cleanup.ts';
import { cleanupStaleUDP } from './conntrack.ts';
import { cleanupInNamespace } from '../../test/support/conntrack-in-netns.ts';
import { udpDestinations } from './stale.ts';
import type { ProxySnapshot, ServicePort } from '../model/types.ts';
import type { IPFamily } from '../../lib/ip.ts';
import { endpoint, servicePort, snapshot as modelSnapshot } from '../../test/support/proxy-model.ts';

const udpService = (name: string, clusterIP: string, port: number, nodePort = 0): ServicePort =>
  servicePort('t', name, { portName: 'p', protocol: 'UDP', clusterIP, port, nodePort });
const snapshot = (family: IPFamily, services: [ServicePort, string[]][]): ProxySnapshot =>
  modelSnapshot(services.map(([sp, eps]) => [sp, eps.map((ip) => endpoint(ip, { port: 5353 }))]), family);

/** One entry: protocol, original tuple, reply source and port. */
interface Flow { proto: 'udp' | 'tcp'; src: string; dst: string; sport: number; dport: number; replySrc: string; replySport: number }
const key = (f: Pick<Flow, 'proto' | 'src' | 'dst' | 'sport' | 'dport'>) => `${f.proto} ${f.src}:${f.sport} -> ${f.dst}:${f.dport}`;
const insertLine = (f: Flow) =>
  `-I -p ${f.proto} -s ${f.src} -d ${f.dst} --sport ${f.sport} --dport ${f.dport} --reply-src ${f.replySrc} --reply-dst ${f.src} ` +
  `--reply-port-src ${f.replySport} --reply-port-dst ${f.sport} -t 900${f.proto === 'tcp' ? ' --state ESTABLISHED' : ''}`;

async function insert(ns: Netns, flows: readonly Flow[]): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kpr-ct-test-'));
  try {
    await writeFile(join(dir, 'insert'), `${flows.map(insertLine).join('\n')}\n`);
    await ns.exec('conntrack', ['-R', join(dir, 'insert')]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The table's entries of a family as keys, sorted. */
async function table(ns: Netns, family: IPFamily): Promise<string[]> {
  const out = await ns.exec('conntrack', ['-L', '-f', `ipv${family}`]);
  return out.stdout.split('\n').filter((l) => l.includes('src=')).map((l) => key({
    proto: l.startsWith('tcp') ? 'tcp' : 'udp',
    src: /\bsrc=(\S+)/.exec(l)?.[1] ?? '',
    dst: /\bdst=(\S+)/.exec(l)?.[1] ?? '',
    sport: Number(/\bsport=(\d+)/.exec(l)?.[1]),
    dport: Number(/\bdport=(\d+)/.exec(l)?.[1]),
  })).sort();
}

const NODE4 = '192.0.2.1';
const NODE6 = 'fd00:2::1';
const dns4 = udpService('dns', '10.96.0.10', 53, 30053);
const gone4 = udpService('gone', '10.96.0.20', 5000);
const dns6 = udpService('dns6', 'fd00:96::a', 53);

const udp = (src: string, dst: string, sport: number, dport: number, replySrc: string, replySport = 5353): Flow => ({ proto: 'udp', src, dst, sport, dport, replySrc, replySport });

// [flow, stale after the sync below]
const CASES4: [Flow, boolean][] = [
  [udp('10.244.1.10', '10.96.0.10', 40000, 53, '10.244.1.21'), false], // to the serving endpoint
  [udp('10.244.1.10', '10.96.0.10', 40001, 53, '10.244.1.99'), true], // to an endpoint that is gone
  [udp('10.244.1.10', '10.96.0.10', 40002, 53, '10.96.0.10', 53), true], // never DNATed (no endpoint then)
  [udp('198.51.100.7', NODE4, 40003, 30053, '10.244.1.99'), true], // NodePort on the node, to a gone endpoint
  [udp('198.51.100.7', NODE4, 40004, 30053, '10.244.1.21'), false], // NodePort to the serving endpoint
  [udp('198.51.100.7', '203.0.113.9', 40005, 30053, '203.0.113.9', 30053), false], // the port on an address not the node's
  [udp('10.244.1.10', '10.96.0.20', 40006, 5000, '10.244.1.30'), true], // a removed Service
  [udp('10.244.1.10', '10.96.0.30', 40007, 53, '10.96.0.30', 53), false], // no Service of ours
  [{ proto: 'tcp', src: '10.244.1.10', dst: '10.96.0.10', sport: 40008, dport: 53, replySrc: '10.244.1.99', replySport: 5353 }, false], // TCP
];
const CASES6: [Flow, boolean][] = [
  [udp('fd00:244::10', 'fd00:96::a', 40000, 53, 'fd00:244::21'), false],
  [udp('fd00:244::10', 'fd00:96::a', 40001, 53, 'fd00:244::99'), true],
  [udp('fd00:244::10', 'fd00:96::a', 40002, 53, 'fd00:96::a', 53), true],
  [udp('fd00:244::10', 'fd00:96::b', 40003, 53, 'fd00:96::b', 53), false],
];

const kept = (cases: [Flow, boolean][]) => cases.filter(([, stale]) => !stale).map(([f]) => key(f)).sort();
const staleCount = (cases: [Flow, boolean][]) => cases.filter(([, stale]) => stale).length;

describe('stale UDP conntrack cleanup in a namespace', () => {
  const set = new NamespaceSet();
  let ns: Netns;
  const snap4 = snapshot(4, [[dns4, ['10.244.1.21']]]);
  const snap6 = snapshot(6, [[dns6, ['fd00:244::21']]]);

  beforeAll(async () => {
    ns = await set.create('ct');
  });
  afterAll(async () => set.destroyAll());
  beforeEach(async () => {
    await ns.exec('conntrack', ['-F'], { allowFailure: true });
    await insert(ns, [...CASES4, ...CASES6].map(([f]) => f));
  });

  it('deletes exactly the stale IPv4 and IPv6 entries through ctnetlink', async () => {
    const report = await cleanupInNamespace(ns.name, { family: 4, destinations: udpDestinations(snap4, [gone4]), localAddresses: new Set([NODE4]) });
    expect(report).toMatchObject({ via: 'netlink', scanned: CASES4.length - 1, stale: staleCount(CASES4), deleted: staleCount(CASES4) });
    expect(await table(ns, 4)).toEqual(kept(CASES4));
    expect(await cleanupStaleUDP(snap6, [], new Set([NODE6]), { cleanup: (req) => cleanupInNamespace(ns.name, req) })).toBe(staleCount(CASES6));
    expect(await table(ns, 6)).toEqual(kept(CASES6));
    // A second pass finds nothing more.
    expect(await cleanupStaleUDP(snap4, [gone4], new Set([NODE4]), { cleanup: (req) => cleanupInNamespace(ns.name, req) })).toBe(0);
  });

  it('deletes the same entries through the conntrack -D fallback', async () => {
    const inNs = ['ip', 'netns', 'exec', ns.name, 'conntrack'];
    const r4 = await viaConntrackTool({ family: 4, destinations: udpDestinations(snap4, [gone4]), localAddresses: new Set([NODE4]) }, inNs);
    expect(r4.stale).toBe(staleCount(CASES4));
    expect(await table(ns, 4)).toEqual(kept(CASES4));
    await viaConntrackTool({ family: 6, destinations: udpDestinations(snap6), localAddresses: new Set([NODE6]) }, inNs);
    expect(await table(ns, 6)).toEqual(kept(CASES6));
  });

  it('pipelines thousands of deletes (more than a receive buffer of replies in flight) after one dump', async () => {
    const flows: Flow[] = [];
    for (let i = 0; i < 4000; i++) flows.push(udp(`10.100.${i >> 8}.${i & 255}`, '10.96.0.10', 41000, 53, i % 4 === 0 ? '10.244.1.21' : `10.244.2.${i % 4}`));
    await insert(ns, flows);
    const deleted = await cleanupStaleUDP(snap4, [gone4], new Set([NODE4]), { cleanup: (req) => cleanupInNamespace(ns.name, req) });
    expect(deleted).toBe(3000 + staleCount(CASES4));
    expect((await table(ns, 4)).length).toBe(1000 + kept(CASES4).length);
  });
});
