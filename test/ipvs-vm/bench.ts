// Sync time for 1,000 ClusterIP Services (2 endpoints each) in IPVS mode, next to its
// baseline from the same run: a bare `ipvsadm -R` of the same table plus one `ip -batch`
// binding the same VIPs. Registered only with IPVS_VM_BENCH=1 (under emulation the
// figures are slow in absolute terms; compare them with the baseline).
import { Netns } from '../../lab/netns.ts';
import { formatRestore } from '../../proxy/ipvs/ipvsadm.ts';
import { IpvsProxier } from '../../proxy/ipvs/proxier.ts';
import { renderIpvs } from '../../proxy/ipvs/render.ts';
import { endpoint, rulesConfig, servicePort, snapshot } from '../support/proxy-model.ts';
import type { Endpoint, ServicePort } from '../../proxy/model/types.ts';
import { assert, note, test } from './runner.ts';

const SERVICES = 1000;

function cluster(changedIndex = -1): Array<[ServicePort, Endpoint[]]> {
  return Array.from({ length: SERVICES }, (_, i) => {
    const sp = servicePort('ns', `svc${i}`, { clusterIP: `10.97.${Math.floor(i / 250)}.${(i % 250) + 1}` });
    const base = i === changedIndex ? 100 : 0;
    return [sp, [endpoint(`10.244.${Math.floor(i / 100)}.${(i % 100) + 1 + base}`), endpoint(`10.245.${Math.floor(i / 100)}.${(i % 100) + 1}`)]];
  });
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const v = await fn();
  return [performance.now() - t, v];
}

if (process.env.IPVS_VM_BENCH === '1') {
  test('bench: sync of 1,000 Services in IPVS mode', async () => {
    const ns = await Netns.create('bench');
    try {
      const p = new IpvsProxier({ family: 4, netns: ns.name });
      const config = rulesConfig({ nodePortIPs: [] });
      const sync = (changedIndex: number, changed: Set<string> | undefined) =>
        timed(() => p.sync({ snapshot: snapshot(cluster(changedIndex)), config, changed }));
      const [first, r1] = await sync(-1, undefined);
      const [noop, r2] = await sync(-1, new Set());
      const [full, r3] = await sync(-1, undefined);
      const [one, r4] = await sync(7, new Set(['ns/svc7:p/TCP']));
      assert(r2.operations === 0, `an unchanged sync wrote ${r2.operations} operations`);
      await p.cleanup();

      const desired = renderIpvs({ snapshot: snapshot(cluster()), scheduler: 'rr', nodeIP: '', nodePortAddresses: [], otherLocalAddresses: new Set() });
      const table = formatRestore(desired.virtualServers.flatMap((vs) => [{ op: 'add-service' as const, vs }, ...vs.realServers.map((rs) => ({ op: 'add-server' as const, vs, rs }))]));
      const [bareIpvs] = await timed(() => ns.exec('ipvsadm', ['-R'], { input: table }));
      await ns.ip(['link', 'add', 'kube-ipvs0', 'type', 'dummy']);
      const [bareAddrs] = await timed(() => ns.ipBatch(desired.boundAddresses.map((a) => `address add ${a}/32 dev kube-ipvs0`)));
      await ns.exec('ipvsadm', ['-C']);
      const ms = (x: number) => `${Math.round(x)} ms`;
      note([
        `bench (emulated guest, TCG): ${SERVICES} ClusterIP Services x 2 endpoints`,
        `first sync ${ms(first)} (${r1.operations} operations)`,
        `unchanged partial sync ${ms(noop)} (${r2.operations} operations)`,
        `unchanged full sync ${ms(full)} (${r3.operations} operations)`,
        `one Service's endpoints changed ${ms(one)} (${r4.operations} operations)`,
        `baseline: bare ipvsadm -R of the same table ${ms(bareIpvs)}, ip -batch of the ${desired.boundAddresses.length} VIPs ${ms(bareAddrs)}`,
      ].join('\n'));
    } finally {
      await ns.destroy();
    }
  });
}
