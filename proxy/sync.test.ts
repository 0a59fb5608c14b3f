import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { IPFamily } from '../lib/ip.ts';
import type { ProxyBackend, RulesConfig, SyncRequest, SyncResult } from './backend.ts';
import type { CleanupReport } from './conntrack/cleanup.ts';
import type { CleanupRequest } from './conntrack/stale.ts';
import { ProxyHealth } from './healthcheck/proxy-health.ts';
import { ServiceHealthServer } from './healthcheck/service-health.ts';
import { createProxyMetrics } from './metrics.ts';
import { EndpointsChangeTracker, ServiceChangeTracker } from './model/change-tracker.ts';
import { ProxyState } from './model/proxy-state.ts';
import { Syncer } from './sync.ts';
import { parseEndpointSlice, parseService } from './watch/objects.ts';
import { rulesConfig } from '../test/support/proxy-model.ts';

/**
 * A backend whose "kernel" is a map: ServicePort key -> endpoint addresses, written
 * whole on a full sync and key by key on a partial one, as the real modes do. It can be
 * told to fail; a failed sync writes nothing.
 */
class FakeBackend implements ProxyBackend {
  readonly mode = 'nftables' as const;
  readonly family: IPFamily;
  readonly kernel = new Map<string, string[]>();
  /** The config the kernel was last programmed with. */
  config: RulesConfig | undefined;
  /** Counts writes to the kernel (as a table generation does). */
  generation = 0;
  failing = false;
  /** While set, a sync waits for it (as for a slow kernel). */
  gate: Promise<void> | undefined;

  constructor(family: IPFamily) {
    this.family = family;
  }

  async sync({ snapshot, config, changed }: SyncRequest): Promise<SyncResult> {
    if (this.failing) throw new Error(`IPv${this.family} restore failed`);
    await this.gate;
    const keys = changed ?? new Set([...this.kernel.keys(), ...snapshot.services.keys()]);
    for (const key of keys) {
      if (snapshot.services.has(key)) this.kernel.set(key, (snapshot.endpoints.get(key) ?? []).map((e) => e.ip));
      else this.kernel.delete(key);
    }
    this.config = config;
    this.generation += 1;
    return { full: changed === undefined, operations: keys.size };
  }

  async cleanup(): Promise<void> {
    this.kernel.clear();
  }
}

const HOUR = 60 * 60 * 1000;

function service(name: string, proto: 'TCP' | 'UDP', last: number) {
  return parseService({
    metadata: { namespace: 'ns', name },
    spec: { clusterIP: `10.96.0.${last}`, clusterIPs: [`10.96.0.${last}`, `fd00:96::${last}`], ports: [{ name: 'p', port: 53, protocol: proto }] },
  });
}

function slice(svc: string, family: IPFamily, proto: 'TCP' | 'UDP', hosts: number[]) {
  return parseEndpointSlice({
    metadata: { namespace: 'ns', name: `${svc}-v${family}`, labels: { 'kubernetes.io/service-name': svc } },
    addressType: family === 4 ? 'IPv4' : 'IPv6',
    endpoints: hosts.map((h) => ({ addresses: [family === 4 ? `10.244.1.${h}` : `fd00:244::${h}`] })),
    ports: [{ name: 'p', port: 5353, protocol: proto }],
  });
}

function setup() {
  const backends = [new FakeBackend(4), new FakeBackend(6)];
  const [b4, b6] = backends as [FakeBackend, FakeBackend];
  const services = new ServiceChangeTracker();
  const endpoints = new EndpointsChangeTracker();
  const state = new ProxyState([4, 6], { name: 'node-a', zone: '' });
  const metrics = createProxyMetrics();
  const log = pino({ level: 'silent' });
  const clock = { now: 1_000 * HOUR };
  /** What each family's config is now; a test changes it. */
  const serviceCIDRs: Record<IPFamily, string[]> = { 4: ['10.96.0.0/16'], 6: ['fd00:96::/112'] };
  const cleanups: CleanupRequest[] = [];
  const released = { count: 0 };
  const syncer = new Syncer({
    state, services, endpoints, backends, metrics, log,
    health: new ProxyHealth({ healthTimeoutMs: 60_000 }),
    serviceHealth: new ServiceHealthServer({ isProxyHealthy: () => true, log }),
    rulesConfig: async (family) => rulesConfig({ family, serviceCIDRs: [...serviceCIDRs[family]] }),
    node: () => ({ name: 'node-a', zone: '' }),
    localAddresses: async () => ['192.0.2.1'],
    now: () => clock.now,
    conntrackCleanup: async (req): Promise<CleanupReport> => {
      cleanups.push(req);
      return { via: 'netlink', scanned: 0, stale: 0, deleted: 0, dumpMs: 0, deleteMs: 0 };
    },
    afterFullSync: () => released.count++,
  });
  /** Records a Service with one slice per family (null: deletes both). */
  const put = (name: string, proto: 'TCP' | 'UDP', last: number, hosts: number[] | null) => {
    services.update(`ns/${name}`, hosts ? service(name, proto, last) : null);
    for (const family of [4, 6] as const) endpoints.update(`ns/${name}`, `ns/${name}-v${family}`, hosts ? slice(name, family, proto, hosts) : null);
  };
  /** Full syncs per family so far, as the metrics report them. */
  const fullSyncs = async (family: IPFamily) => {
    const m = await metrics.syncFullProxyRulesDuration.get();
    return m.values.find((v) => v.metricName?.endsWith('_count') && v.labels.ip_family === `IPv${family}`)?.value ?? 0;
  };
  /** What the kernel should hold: every ServicePort of the state with its endpoints. */
  const want = (family: IPFamily) => {
    const snap = state.snapshot(family);
    return new Map([...(snap?.services.keys() ?? [])].map((k) => [k, (snap?.endpoints.get(k) ?? []).map((e) => e.ip)]));
  };
  return { syncer, b4, b6, put, clock, serviceCIDRs, cleanups, fullSyncs, want, released, services, endpoints };
}

/** The stale destinations of a cleanup request as "address|port -> serving endpoints". */
const destinations = (req: CleanupRequest) => Object.fromEntries([...req.destinations.byAddress].map(([k, v]) => [k, [...v].sort()]));

describe('Syncer', () => {
  it('syncs fully first, then only the ServicePorts that changed, and nothing when nothing did', async () => {
    const t = setup();
    t.put('web', 'TCP', 10, [1, 2]);
    await t.syncer.sync();
    expect(t.b4.kernel).toEqual(t.want(4));
    expect(await t.fullSyncs(4)).toBe(1);

    t.put('api', 'TCP', 20, [3]);
    t.put('web', 'TCP', 10, [2]);
    await t.syncer.sync();
    expect(t.b4.kernel).toEqual(new Map([['ns/web:p/TCP', ['10.244.1.2']], ['ns/api:p/TCP', ['10.244.1.3']]]));
    expect(t.b6.kernel).toEqual(t.want(6));
    expect(await t.fullSyncs(4)).toBe(1);

    const generation = t.b4.generation;
    await t.syncer.sync();
    expect(t.b4.generation).toBe(generation);
  });

  it('holds no drained EndpointSlice while a backend syncs (at scale, the first sync would keep every parsed slice)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const t = setup();
    let open = () => {};
    t.b4.gate = new Promise<void>((r) => { open = r; });
    t.services.update('ns/web', service('web', 'TCP', 10));
    const drained = (() => {
      const s = slice('web', 4, 'TCP', [1, 2]);
      t.endpoints.update('ns/web', 'ns/web-v4', s);
      return new WeakRef(s);
    })();
    const syncing = t.syncer.sync();
    // The sync now waits in the IPv4 backend.
    await new Promise((r) => setTimeout(r, 0));
    gc();
    expect(drained.deref()).toBeUndefined();
    open();
    await syncing;
    expect(t.b4.kernel).toEqual(new Map([['ns/web:p/TCP', ['10.244.1.1', '10.244.1.2']]]));
  });

  it('asks for the garbage to be collected after a full sync only, once for both families', async () => {
    const t = setup();
    t.put('web', 'TCP', 10, [1, 2]);
    await t.syncer.sync();
    expect(t.released.count).toBe(1);
    t.put('web', 'TCP', 10, [2]);
    await t.syncer.sync();
    await t.syncer.sync();
    expect(t.released.count).toBe(1);
    t.clock.now += HOUR;
    await t.syncer.sync();
    expect(t.released.count).toBe(2);
  });

  it('after a failed sync, the next sync of that family is full; the other family goes on partially', async () => {
    const t = setup();
    t.put('web', 'TCP', 10, [1]);
    await t.syncer.sync();

    t.b4.failing = true;
    t.put('web', 'TCP', 10, [2]);
    await expect(t.syncer.sync()).rejects.toThrow('IPv4 restore failed');
    expect(t.b4.kernel.get('ns/web:p/TCP')).toEqual(['10.244.1.1']);
    expect(t.b6.kernel).toEqual(t.want(6));

    // Repaired: the failed family syncs fully though nothing changed since; the other does not sync at all.
    t.b4.failing = false;
    t.b4.kernel.set('ns/leftover:p/TCP', ['10.244.9.9']);
    const generation6 = t.b6.generation;
    await t.syncer.sync();
    expect(await t.fullSyncs(4)).toBe(2);
    expect(await t.fullSyncs(6)).toBe(1);
    expect(t.b4.kernel).toEqual(t.want(4));
    expect(t.b6.generation).toBe(generation6);
  });

  it('carries what changed while a family failed to its next sync: a UDP Service deleted meanwhile has its conntrack entries cleaned', async () => {
    const t = setup();
    t.put('dns', 'UDP', 53, [1]);
    t.put('web', 'TCP', 10, [1]);
    await t.syncer.sync();
    t.cleanups.length = 0;

    t.b4.failing = true;
    t.put('dns', 'UDP', 53, null);
    await expect(t.syncer.sync()).rejects.toThrow();
    // IPv6 synced and cleaned; IPv4's rules are not in place, so no cleanup there yet.
    expect(t.cleanups.map((r) => [r.family, destinations(r)])).toEqual([[6, { 'fd00:96::53|53': [] }]]);

    t.b4.failing = false;
    t.cleanups.length = 0;
    await t.syncer.sync();
    expect(t.cleanups.map((r) => [r.family, destinations(r)])).toEqual([[4, { '10.96.0.53|53': [] }]]);
    expect(t.b4.kernel).toEqual(t.want(4));

    // Carried once: the next sync has nothing left to clean.
    t.cleanups.length = 0;
    await t.syncer.sync();
    expect(t.cleanups).toEqual([]);
  });

  it('cleans stale UDP conntrack entries when a UDP endpoint goes away, not after a TCP-only change', async () => {
    const t = setup();
    t.put('dns', 'UDP', 53, [1, 2]);
    t.put('web', 'TCP', 10, [1]);
    await t.syncer.sync();
    t.cleanups.length = 0;

    t.put('web', 'TCP', 10, [2]);
    await t.syncer.sync();
    expect(t.cleanups).toEqual([]);

    t.put('dns', 'UDP', 53, [2]);
    await t.syncer.sync();
    expect(t.cleanups.map((r) => [r.family, destinations(r), [...r.localAddresses]])).toEqual([
      [4, { '10.96.0.53|53': ['10.244.1.2'] }, ['192.0.2.1']],
      [6, { 'fd00:96::53|53': ['fd00:244::2'] }, ['192.0.2.1']],
    ]);
  });

  it('syncs every family fully once an hour, even without changes', async () => {
    const t = setup();
    t.put('web', 'TCP', 10, [1]);
    await t.syncer.sync();

    t.clock.now += HOUR - 1;
    const generation = t.b4.generation;
    await t.syncer.sync();
    expect(t.b4.generation).toBe(generation);

    // Rules changed behind kpr's back are repaired by the periodic full sync.
    t.b4.kernel.set('ns/web:p/TCP', ['10.244.6.6']);
    t.clock.now += 1;
    await t.syncer.sync();
    expect(await t.fullSyncs(4)).toBe(2);
    expect(await t.fullSyncs(6)).toBe(2);
    expect(t.b4.kernel).toEqual(t.want(4));
  });

  it('re-syncs a family whose rules config changed (ServiceCIDRs), without any Service change', async () => {
    const t = setup();
    t.put('web', 'TCP', 10, [1]);
    await t.syncer.sync();
    const [generation4, generation6] = [t.b4.generation, t.b6.generation];

    t.serviceCIDRs[4].push('10.97.0.0/16');
    await t.syncer.sync();
    expect(t.b4.config?.serviceCIDRs).toEqual(['10.96.0.0/16', '10.97.0.0/16']);
    expect(t.b4.generation).toBe(generation4 + 1);
    expect(t.b6.generation).toBe(generation6);
    expect(await t.fullSyncs(4)).toBe(1);
  });
});
