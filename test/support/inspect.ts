// What `kpr inspect` must show for the flow-table cluster (lab/flow-table.ts), in
// iptables and nftables modes: used by the parsers' unit tests and by the kernel test
// on the built binary's JSON.
import { expect } from 'vitest';
import { PODS, type PodName } from '../../lab/topology.ts';
import { frontendKey, type Frontend, type View } from '../../proxy/inspect/model.ts';

type Pick2 = { ip4: string; ip6: string };
const at = (family: 4 | 6, a: Pick2 | string) => (typeof a === 'string' ? a : family === 4 ? a.ip4 : a.ip6);
const svc = (n: number) => ({ ip4: `10.96.0.${n}`, ip6: `fd00:96::${n}` });

/** The pods behind backends, with their share rounded to 3 digits. */
export function pods(family: 4 | 6, backends: Frontend['backends'] | undefined): Record<string, number> {
  const byIP = new Map<string, string>(Object.entries(PODS).map(([name, p]) => [family === 4 ? p.ip4 : p.ip6, name]));
  return Object.fromEntries((backends ?? []).map((b) => [byIP.get(b.address) ?? b.address, Math.round((b.probability ?? 0) * 1000) / 1000]));
}

const even = (...names: PodName[]) => Object.fromEntries(names.map((n) => [n, Math.round(1000 / names.length) / 1000]));

export function frontend(view: View, proto: Frontend['protocol'], address: Pick2 | string, port: number): Frontend {
  const f = view.frontends.find((x) => frontendKey(x) === frontendKey({ protocol: proto, address: at(view.family, address), port }));
  if (!f) throw new Error(`no frontend ${proto} ${at(view.family, address)}:${port} in ${view.mode} IPv${view.family}`);
  return f;
}

/** Checks every Service of the flow table, names included (every mode carries them). */
export function checkFlowCluster(view: View): void {
  const fam = view.family;
  const f = (proto: Frontend['protocol'], a: Pick2 | string, port: number) => frontend(view, proto, a, port);
  const notPods = fam === 4 ? 'src != 10.244.0.0/16' : 'src != fd00:10:244::/48';
  const name = (s: string) => ({ service: `flows/${s}` });
  // nftables cannot tell an externalIP from a LoadBalancer IP without source ranges.
  const externalKind = view.mode === 'iptables' ? 'ExternalIP' : 'External';

  const web = f('tcp', svc(10), 80);
  expect(web).toMatchObject({ kind: 'ClusterIP', policy: 'Cluster', masquerade: notPods, ...name('web:p') });
  expect(pods(fam, web.backends)).toEqual(even('s1', 's2', 'r1'));
  expect(pods(fam, f('udp', svc(10), 53).backends)).toEqual(even('s1', 's2', 'r1'));

  for (const [proto, port] of [['tcp', 80], ['udp', 53]] as const) {
    expect(f(proto, svc(20), port)).toMatchObject({ kind: 'ClusterIP', verdict: 'REJECT', reason: 'no endpoints', backends: [], ...name(`empty:${proto === 'tcp' ? 'p' : 'dns'}`) });
  }
  expect(pods(fam, f('tcp', svc(30), 80).backends)).toEqual(even('r1'));
  expect(f('tcp', '*', 30080)).toMatchObject({ kind: 'NodePort', policy: 'Cluster', masquerade: 'all', ...name('np:p') });
  expect(pods(fam, f('tcp', '*', 30080).backends)).toEqual(even('r1'));

  const nplocal = f('tcp', '*', 30081);
  expect(nplocal).toMatchObject({ kind: 'NodePort', policy: 'Local', masquerade: 'src-type local', ...name('nplocal:p') });
  expect(pods(fam, nplocal.backends)).toEqual(even('s1'));
  expect(pods(fam, nplocal.shortCircuit)).toEqual(even('s1', 'r1'));

  const none = f('tcp', '*', 30082);
  expect(none).toMatchObject({ kind: 'NodePort', policy: 'Local', verdict: 'DROP', reason: 'no local endpoints', backends: [], ...name('nplocalnone:p') });
  expect(pods(fam, none.shortCircuit)).toEqual(even('r2'));

  expect(f('tcp', svc(40), 80)).toMatchObject({ kind: 'ClusterIP', policy: 'Local', verdict: 'DROP', backends: [], ...name('itplocal:p') });
  expect(f('tcp', svc(41), 80)).toMatchObject({ policy: 'Local' });
  expect(pods(fam, f('tcp', svc(41), 80).backends)).toEqual(even('s2'));

  const extip = f('tcp', { ip4: '198.51.100.10', ip6: 'fd00:198::10' }, 80);
  expect(extip).toMatchObject({ kind: externalKind, masquerade: 'all', ...name('extip:p') });
  expect(pods(fam, extip.backends)).toEqual(even('s2'));

  const lb = f('tcp', { ip4: '198.51.100.20', ip6: 'fd00:198::20' }, 80);
  expect(lb).toMatchObject({ kind: 'LoadBalancer', sourceRanges: [fam === 4 ? '192.0.2.20' : 'fd00:192::20'], masquerade: 'all', ...name('lb:p') });
  expect(pods(fam, lb.backends)).toEqual(even('s1'));
  expect(pods(fam, f('tcp', '*', 30060).backends)).toEqual(even('s1'));

  const sticky = f('tcp', svc(70), 80);
  expect(sticky).toMatchObject({ affinitySeconds: 60, service: 'flows/sticky:p' });
  expect(pods(fam, sticky.backends)).toEqual(even('s1', 's2'));

  expect(pods(fam, f('tcp', svc(80), 80).backends)).toEqual(even('s1'));
  expect(pods(fam, f('tcp', svc(81), 80).backends)).toEqual(even('s2'));
  expect(pods(fam, f('tcp', svc(90), 80).backends)).toEqual(even('s1'));
  expect(pods(fam, f('tcp', svc(100), 80).backends)).toEqual(even('s1'));
  const lblocal = f('tcp', { ip4: '198.51.100.30', ip6: 'fd00:198::30' }, 80);
  expect(lblocal).toMatchObject({ policy: 'Local' });
  expect(pods(fam, lblocal.backends)).toEqual(even('s1'));
  expect(pods(fam, f('tcp', '*', 30061).backends)).toEqual(even('s1'));
  expect(pods(fam, f('sctp', svc(120), 80).backends)).toEqual(even('s1'));
  const lbnode = f('tcp', { ip4: '192.0.2.1', ip6: 'fd00:192::1' }, 32001);
  expect(lbnode).toMatchObject({ kind: 'LoadBalancer', policy: 'Local', sourceRanges: [fam === 4 ? '192.0.2.20' : 'fd00:192::20'] });
  expect(pods(fam, lbnode.backends)).toEqual(even('s1'));
  const extiplocal = f('tcp', { ip4: '198.51.100.11', ip6: 'fd00:198::11' }, 30080);
  expect(extiplocal).toMatchObject({ kind: externalKind, policy: 'Local' });
  expect(pods(fam, extiplocal.backends)).toEqual(even('s2'));
  // Every frontend is named.
  expect(view.frontends.filter((x) => !x.service)).toEqual([]);
  // The other proxy's Service has no rules, and nothing else shows up.
  expect(view.frontends.map((x) => x.address)).not.toContain(at(fam, svc(110)));
  expect(view.frontends).toHaveLength(32);
}
