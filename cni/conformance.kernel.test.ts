// The CNI 1.1 conformance checklist (C01-C50: the spec's verbs, environment, result and error rules), one test
// per point that applies to kpr-cni, against the BUILT dist/bin/kpr-cni run inside a
// node namespace as a container runtime runs it.
import { existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueToken, type Netns } from '../lab/netns.ts';
import { buildExists, createLab, ipFiles, ipj, KPR_CNI, kprConf, linkNames, PINNED_BIN, REF_CNI_DIR, runPlugin, type Invocation, type Lab, type PluginRun } from '../test/support/cni-kernel.ts';
import { hostVethName } from './names.ts';

let lab: Lab;
const NET = 'kpt-net';

function cni(inv: Invocation, conf: unknown): Promise<PluginRun> {
  return runPlugin(lab.node, KPR_CNI, inv, typeof conf === 'string' ? conf : JSON.stringify(conf));
}
const cid = () => `c${uniqueToken()}`;
const pod = () => lab.set.create('pod');
function add(p: Netns, id: string, conf: unknown = kprConf(lab), o: Partial<Invocation> = {}) {
  return cni({ command: 'ADD', containerId: id, netns: p.path, ifName: 'eth0', ...o }, conf);
}
function del(p: Netns | undefined, id: string, conf: unknown = kprConf(lab), o: Partial<Invocation> = {}) {
  return cni({ command: 'DEL', containerId: id, netns: p?.path, ifName: 'eth0', ...o }, conf);
}
function withPrev(conf: Record<string, unknown>, prev: unknown) {
  return { ...conf, prevResult: prev };
}
function hv(id: string, ifName = 'eth0', network = NET) {
  return hostVethName({ network, containerId: id, ifName });
}
async function podAddrs(p: Netns, ifName = 'eth0'): Promise<string[]> {
  const l = (await ipj(p, ['addr', 'show', 'dev', ifName]))[0] as { addr_info?: Array<{ local: string; prefixlen: number; scope: string }> } | undefined;
  return (l?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`);
}
function expectError(r: PluginRun, code: number, msg?: RegExp) {
  expect(r.code, r.stdout + r.stderr).not.toBe(0);
  expect(r.json).toMatchObject({ code });
  expect(r.json?.cniVersion).toBeTypeOf('string');
  if (msg) expect(`${String(r.json?.msg)} ${String(r.json?.details ?? '')}`).toMatch(msg);
}
function expectOk(r: PluginRun) {
  expect(r.code, r.stdout + r.stderr).toBe(0);
}

beforeAll(async () => {
  if (!buildExists()) throw new Error(`${KPR_CNI} missing: run "npm run build" first`);
  lab = await createLab();
});
afterAll(async () => { await lab?.destroy(); });

describe('version and config (C01-C13)', () => {
  it('C01 answers VERSION with only CNI_COMMAND set and empty stdin', async () => {
    const r = await runPlugin(lab.node, KPR_CNI, { command: 'VERSION', path: undefined, env: { CNI_PATH: undefined } }, '');
    expectOk(r);
    expect(r.json).toEqual({ cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });
  it('C02 VERSION echoes the input cniVersion', async () => {
    expect((await cni({ command: 'VERSION' }, { cniVersion: '0.4.0' })).json?.cniVersion).toBe('0.4.0');
  });
  it('C03 refuses an unsupported cniVersion with code 1 listing the supported ones', async () => {
    const r = await add(await pod(), cid(), kprConf(lab, { cniVersion: '9.9.9' }));
    expectError(r, 1, /1\.1\.0/);
  });
  it('C04 treats a config without cniVersion as 0.1.0 and refuses it with code 1', async () => {
    const { cniVersion: _v, ...conf } = kprConf(lab);
    expectError(await add(await pod(), cid(), conf), 1, /0\.1\.0/);
  });
  it.each(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'])('C05 writes the result in the shape of %s', async (v) => {
    const p = await pod();
    const id = cid();
    const r = await add(p, id, kprConf(lab, { cniVersion: v }));
    expectOk(r);
    expect(r.json?.cniVersion).toBe(v);
    const ips = r.json?.ips as Array<Record<string, unknown>>;
    if (v.startsWith('0.')) expect(ips.map((i) => i.version)).toEqual(['4', '6']);
    else expect(ips.every((i) => !('version' in i))).toBe(true);
    expectOk(await del(p, id, kprConf(lab, { cniVersion: v })));
  });
  it('C06 refuses stdin that is not JSON with code 6', async () => {
    expectError(await add(await pod(), cid(), '{"cniVersion":"1.0.0",'), 6);
  });
  it('C07 refuses a missing network name with code 7', async () => {
    expectError(await add(await pod(), cid(), { ...kprConf(lab), name: undefined }), 7, /name/);
  });
  it('C08 names the missing variable with code 4', async () => {
    expectError(await cni({ command: 'ADD', containerId: cid(), ifName: 'eth0' }, kprConf(lab)), 4, /CNI_NETNS/);
  });
  it('C09 refuses an unknown CNI_COMMAND with code 4', async () => {
    expectError(await cni({ command: 'FOO', containerId: cid(), ifName: 'eth0' }, kprConf(lab)), 4, /FOO/);
  });
  it.each(['this-name-is-too-long', 'a/b', 'a:b', 'a b', '.'])('C10 refuses CNI_IFNAME %j with code 4', async (ifName) => {
    expectError(await add(await pod(), cid(), kprConf(lab), { ifName }), 4, /CNI_IFNAME/);
  });
  it('C11 refuses a malformed CNI_CONTAINERID with code 4', async () => {
    expectError(await add(await pod(), '-bad id'), 4, /CNI_CONTAINERID/);
  });
  it('C12 prints failures as an error object on stdout, logs only on stderr', async () => {
    const r = await add(await pod(), cid(), kprConf(lab, { extra: { mtu: 'big' } }));
    expectError(r, 7, /"mtu"/);
    expect(Object.keys(r.json ?? {}).sort()).toEqual(['cniVersion', 'code', 'msg']);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('"level":50');
  });
  it('C13 ignores unknown plugin keys', async () => {
    const p = await pod();
    const id = cid();
    expectOk(await add(p, id, kprConf(lab, { extra: { totallyUnknownField: { a: 1 } } })));
    expectOk(await del(p, id));
  });
});

describe('ADD (C14-C24)', () => {
  it('C14 creates CNI_IFNAME in CNI_NETNS and lists host and container interfaces with sandbox and indexes', async () => {
    const p = await pod();
    const id = cid();
    const r = await add(p, id);
    expectOk(r);
    const ifs = r.json?.interfaces as Array<Record<string, unknown>>;
    expect(ifs.map((i) => i.name)).toEqual(['kpr0', hv(id), 'eth0']);
    expect(ifs[2]?.sandbox).toBe(p.path);
    expect(ifs[1]).not.toHaveProperty('sandbox');
    const ips = r.json?.ips as Array<{ address: string; interface: number }>;
    expect(ips.map((i) => i.interface)).toEqual([2, 2]);
    expect(await podAddrs(p)).toEqual(ips.map((i) => i.address));
    expect(await linkNames(lab.node)).toContain(hv(id));
    expectOk(await del(p, id));
  });
  it('C15 fails when CNI_IFNAME already exists in the netns, leaking no address', async () => {
    const p = await pod();
    await p.ip(['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0']);
    const before = ipFiles(lab, NET);
    const id = cid();
    const r = await add(p, id);
    expectError(r, 100, /File exists/);
    expect(ipFiles(lab, NET)).toEqual(before);
    expect(await linkNames(lab.node)).not.toContain(hv(id));
  });
  it('C16 fails a second ADD of the same attachment without reserving a second address or breaking the first', async () => {
    const p = await pod();
    const id = cid();
    const first = await add(p, id);
    expectOk(first);
    const files = ipFiles(lab, NET);
    expectError(await add(p, id), 999, /already has interface eth0/);
    expect(ipFiles(lab, NET)).toEqual(files);
    expect(await podAddrs(p)).toHaveLength(2);
    expectOk(await del(p, id));
  });
  it('C17 attaches the same container a second time under another ifname', async () => {
    const p = await pod();
    const id = cid();
    // A second network for the same pod, naming its own route instead of a second default.
    const second = kprConf(lab, { name: 'kpt-net2', v4: '10.244.2.0/24', v6: null, extra: { bridge: 'kpr1' }, ipam: { routes: [{ dst: '10.99.0.0/16' }] } });
    const a = await add(p, id);
    const b = await add(p, id, second, { ifName: 'net1' });
    expectOk(a);
    expectOk(b);
    expect(await podAddrs(p, 'net1')).toEqual(['10.244.2.2/24']);
    expectOk(await del(p, id, second, { ifName: 'net1' }));
    expect(await podAddrs(p)).toHaveLength(2);
    expectOk(await del(p, id));
  });
  it('C18 fails for a CNI_NETNS that does not exist, leaving nothing behind', async () => {
    const before = ipFiles(lab, NET);
    const id = cid();
    const r = await cni({ command: 'ADD', containerId: id, netns: '/var/run/netns/kpt-does-not-exist', ifName: 'eth0' }, kprConf(lab));
    expectError(r, 3, /kpt-does-not-exist/);
    expect(ipFiles(lab, NET)).toEqual(before);
    expect(await linkNames(lab.node)).not.toContain(hv(id));
  });
  it('C18 refuses a CNI_NETNS that holds no network namespace up front: a plain file (3), a mount namespace (4)', async () => {
    const before = ipFiles(lab, NET);
    const file = join(lab.dataDir, 'not-a-netns');
    writeFileSync(file, '');
    const cases: Array<[string, number, RegExp]> = [
      [file, 3, /is not a network namespace/],
      [`/proc/${process.pid}/ns/mnt`, 4, /is a mnt namespace, not a network namespace/],
    ];
    for (const [netns, code, msg] of cases) {
      const id = cid();
      expectError(await cni({ command: 'ADD', containerId: id, netns, ifName: 'eth0' }, kprConf(lab)), code, msg);
      expectError(await cni({ command: 'CHECK', containerId: id, netns, ifName: 'eth0' }, withPrev(kprConf(lab), { cniVersion: '1.1.0', interfaces: [], ips: [] })), code, msg);
      expect(await linkNames(lab.node)).not.toContain(hv(id));
    }
    expect(ipFiles(lab, NET)).toEqual(before);
  });
  it('C11 C10 refuses a 300-character container ID and interface names ip -batch would misread, before allocating', async () => {
    const before = ipFiles(lab, NET);
    const p = await pod();
    expectError(await add(p, 'a'.repeat(300)), 4, /CNI_CONTAINERID: container ID is too long/);
    for (const ifName of ['eth#0', 'eth"0', "eth'0", 'eth%d', 'eth\\0']) {
      expectError(await add(p, cid(), kprConf(lab), { ifName }), 4, /invalid CNI_IFNAME/);
    }
    expect(ipFiles(lab, NET)).toEqual(before);
    expect(await linkNames(p)).toEqual(['lo']);
  });
  it('C19 undoes a half-done ADD itself (veth, address), and a DEL afterwards still succeeds', async () => {
    const p = await pod();
    const id = cid();
    const before = ipFiles(lab, NET);
    // A route whose gateway is off-link fails inside the pod, after the veth and the address exist.
    const conf = kprConf(lab, { v6: null, ipam: { routes: [{ dst: '10.99.0.0/16', gw: '192.168.250.1' }] } });
    const r = await add(p, id, conf);
    expectError(r, 100, /route add 10\.99\.0\.0\/16/);
    expect(ipFiles(lab, NET)).toEqual(before);
    expect(await linkNames(lab.node)).not.toContain(hv(id));
    expect(await linkNames(p)).not.toContain('eth0');
    expectOk(await del(p, id, conf));
  });
  it('C20 refuses CNI_NETNS pointing at the plugin\'s own namespace', async () => {
    expectError(await cni({ command: 'ADD', containerId: cid(), netns: lab.node.path, ifName: 'eth0' }, kprConf(lab)), 8);
  });
  it('C21 appends to prevResult, shifting its interface indexes', async () => {
    const p = await pod();
    const id = cid();
    const prev = { cniVersion: '1.0.0', interfaces: [{ name: 'lo0', sandbox: p.path }], ips: [{ address: '192.168.0.9/32', interface: 0 }], routes: [], dns: { nameservers: ['10.96.0.10'] } };
    const r = await add(p, id, withPrev(kprConf(lab, { cniVersion: '1.0.0' }), prev));
    expectOk(r);
    expect((r.json?.interfaces as Array<{ name: string }>).map((i) => i.name)).toEqual(['lo0', 'kpr0', hv(id), 'eth0']);
    expect((r.json?.ips as Array<{ interface: number }>).map((i) => i.interface)).toEqual([0, 3, 3]);
    expect(r.json?.dns).toEqual({ nameservers: ['10.96.0.10'] });
    expectOk(await del(p, id));
  });
  it('C22 tolerates "capabilities" and runtimeConfig keys it does not use', async () => {
    const p = await pod();
    const id = cid();
    const conf = kprConf(lab, { extra: { capabilities: { portMappings: true, aliases: true }, runtimeConfig: { portMappings: [{ hostPort: 1, containerPort: 2, protocol: 'tcp' }], aliases: { n: ['x'] } } } });
    expectOk(await add(p, id, conf));
    expectOk(await del(p, id, conf));
  });
  it('C23 accepts CNI_ARGS as kubelet and podman send them', async () => {
    const p = await pod();
    const id = cid();
    const args = `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=${id}`;
    expectOk(await add(p, id, kprConf(lab), { args }));
    expectOk(await del(p, id, kprConf(lab), { args }));
  });
  it.each([
    ['runtimeConfig.ips', (c: Record<string, unknown>) => ({ ...c, runtimeConfig: { ips: ['10.244.1.201/24'] } }), undefined, '10.244.1.201/24'],
    ['args.cni.ips', (c: Record<string, unknown>) => ({ ...c, args: { cni: { ips: ['10.244.1.202'] } } }), undefined, '10.244.1.202/24'],
    ['CNI_ARGS IP=', (c: Record<string, unknown>) => c, 'IgnoreUnknown=1;IP=10.244.1.203', '10.244.1.203/24'],
  ])('C24 assigns the address requested through %s', async (_via, edit, args, want) => {
    const p = await pod();
    const id = cid();
    const conf = edit(kprConf(lab, { v6: null }));
    const r = await add(p, id, conf, args ? { args } : {});
    expectOk(r);
    expect(await podAddrs(p)).toEqual([want]);
    expectOk(await del(p, id, conf, args ? { args } : {}));
  });
  it('C24 refuses a requested address outside the range, reserving nothing', async () => {
    const before = ipFiles(lab, NET);
    const id = cid();
    expectError(await add(await pod(), id, { ...kprConf(lab), runtimeConfig: { ips: ['192.0.2.5'] } }), 103, /192\.0\.2\.5/);
    expect(ipFiles(lab, NET)).toEqual(before);
    expect(await linkNames(lab.node)).not.toContain(hv(id));
  });
});

describe('DEL (C25-C29)', () => {
  it('C25 succeeds for a container never added', async () => {
    expectOk(await del(await pod(), cid()));
  });
  it('C26 succeeds twice in a row', async () => {
    const p = await pod();
    const id = cid();
    expectOk(await add(p, id));
    expectOk(await del(p, id));
    expectOk(await del(p, id));
  });
  it('C27 releases the address when CNI_NETNS is unset or the netns is gone', async () => {
    for (const gone of ['unset', 'deleted'] as const) {
      const p = await pod();
      const id = cid();
      const r = await add(p, id);
      expectOk(r);
      const mine = (r.json?.ips as Array<{ address: string }>).map((i) => i.address.split('/')[0]);
      await p.destroy();
      const d = gone === 'unset' ? await cni({ command: 'DEL', containerId: id, ifName: 'eth0' }, kprConf(lab)) : await del(p, id);
      expectOk(d);
      expect(ipFiles(lab, NET).filter((f) => mine.includes(f))).toEqual([]);
    }
  });
  it('C28 succeeds with no prevResult and with an empty one', async () => {
    const p = await pod();
    const id = cid();
    const r = await add(p, id);
    expectOk(await del(p, id, withPrev(kprConf(lab), {})));
    expectOk(await del(p, id, withPrev(kprConf(lab), r.json)));
  });
  it('C29 removes every resource ADD made: address file, veth, host routes, masquerade entries', async () => {
    const p = await pod();
    const id = cid();
    const conf = kprConf(lab, { name: 'kpt-masq29', mode: 'routed', ipMasq: true });
    const r = await add(p, id, conf);
    expectOk(r);
    expect(ipFiles(lab, 'kpt-masq29')).toHaveLength(2);
    expect((await lab.node.exec('nft', ['list', 'table', 'inet', 'kpr-cni-nat'])).stdout).toContain(`kpr-cni/kpt-masq29/${id}/eth0`);
    expectOk(await del(p, id, conf));
    expect(ipFiles(lab, 'kpt-masq29')).toEqual([]);
    expect(await linkNames(lab.node)).not.toContain(hv(id, 'eth0', 'kpt-masq29'));
    expect(await linkNames(p)).not.toContain('eth0');
    const routes = await ipj(lab.node, ['route', 'show', 'table', 'all']);
    expect(routes.filter((x) => x.dev === hv(id, 'eth0', 'kpt-masq29'))).toEqual([]);
    expect((await lab.node.exec('nft', ['list', 'table', 'inet', 'kpr-cni-nat'], { allowFailure: true })).exitCode).not.toBe(0);
  });
});

describe('CHECK (C30-C35)', () => {
  it('C30 fails without prevResult', async () => {
    const p = await pod();
    const id = cid();
    expectOk(await add(p, id));
    expectError(await cni({ command: 'CHECK', containerId: id, netns: p.path, ifName: 'eth0' }, kprConf(lab)), 7, /prevResult/);
    expectOk(await del(p, id));
  });
  it.each(['bridge', 'routed'] as const)('C31 succeeds right after ADD with nothing on stdout (%s)', async (mode) => {
    const p = await pod();
    const id = cid();
    const conf = kprConf(lab, { mode, ipMasq: true, name: `kpt-chk-${mode}` });
    const r = await add(p, id, conf);
    expectOk(r);
    const c = await cni({ command: 'CHECK', containerId: id, netns: p.path, ifName: 'eth0' }, withPrev(conf, r.json));
    expectOk(c);
    expect(c.stdout).toBe('');
    expectOk(await del(p, id, conf));
  });
  it.each([
    ['the pod address', (p: Netns, r: PluginRun) => p.ip(['addr', 'del', (r.json?.ips as Array<{ address: string }>)[0]?.address ?? '', 'dev', 'eth0']), /address .* missing/],
    ['the default route', (p: Netns) => p.ip(['route', 'del', 'default']), /route 0\.0\.0\.0\/0/],
    ['the interface', (p: Netns) => p.ip(['link', 'del', 'eth0']), /eth0 not found/],
  ])('C32 fails after removing %s', async (_what, damage, msg) => {
    const p = await pod();
    const id = cid();
    const r = await add(p, id);
    await damage(p, r);
    expectError(await cni({ command: 'CHECK', containerId: id, netns: p.path, ifName: 'eth0' }, withPrev(kprConf(lab), r.json)), 999, msg);
    expectOk(await del(p, id));
  });
  it('C33 refuses CHECK for a 0.3.1 config with code 1', async () => {
    const p = await pod();
    expectError(await cni({ command: 'CHECK', containerId: cid(), netns: p.path, ifName: 'eth0' }, withPrev(kprConf(lab, { cniVersion: '0.3.1' }), {})), 1, /CHECK/);
  });
  it('C34 fails when the IPAM reservation is gone', async () => {
    const p = await pod();
    const id = cid();
    const r = await add(p, id);
    for (const f of ipFiles(lab, NET)) {
      if ((r.json?.ips as Array<{ address: string }>).some((i) => i.address.startsWith(`${f}/`))) unlinkSync(join(lab.dataDir, NET, f));
    }
    expectError(await cni({ command: 'CHECK', containerId: id, netns: p.path, ifName: 'eth0' }, withPrev(kprConf(lab), r.json)), 999, /no address reserved/);
    expectOk(await del(p, id));
  });
  it('C35 tolerates routes and MTU changed by a later plugin', async () => {
    const p = await pod();
    const id = cid();
    const r = await add(p, id);
    await p.ip(['route', 'add', '10.99.0.0/16', 'via', '10.244.1.1']);
    await p.ip(['link', 'set', 'eth0', 'mtu', '1400']);
    expectOk(await cni({ command: 'CHECK', containerId: id, netns: p.path, ifName: 'eth0' }, withPrev(kprConf(lab), r.json)));
    expectOk(await del(p, id));
  });
});

describe('STATUS, GC and IPAM (C36-C50)', () => {
  const tiny = (name: string) => kprConf(lab, { name, v4: '10.250.0.0/30', v6: null });

  it('C36 C37 C38 C45: STATUS is 0 when ready, 50 naming the range when exhausted, and ADD works again after', async () => {
    const conf = tiny('kpt-tiny');
    const status = () => cni({ command: 'STATUS' }, conf);
    expectOk(await status());
    const p1 = await pod();
    const id1 = cid();
    expectOk(await add(p1, id1, conf));
    // A /30 holds one allocatable address besides the gateway.
    expectError(await status(), 50, /no addresses left in range 10\.250\.0/);
    const full = await add(await pod(), cid(), conf);
    expectError(full, 101, /no addresses|10\.250\.0/);
    expectOk(await del(p1, id1, conf));
    const p2 = await pod();
    const id2 = cid();
    expectOk(await add(p2, id2, conf));
    expectOk(await del(p2, id2, conf));
  });
  it('C39 GC releases what the valid list does not hold and keeps the rest, with no output', async () => {
    const conf = kprConf(lab, { name: 'kpt-gc39', ipMasq: true });
    const [pa, pb] = [await pod(), await pod()];
    const [a, b] = [cid(), cid()];
    const ra = await add(pa, a, conf);
    expectOk(ra);
    expectOk(await add(pb, b, conf));
    const g = await cni({ command: 'GC' }, { ...conf, 'cni.dev/valid-attachments': [{ containerID: a, ifname: 'eth0' }] });
    expectOk(g);
    expect(g.stdout).toBe('');
    expect(ipFiles(lab, 'kpt-gc39')).toEqual((ra.json?.ips as Array<{ address: string }>).map((i) => i.address.split('/')[0]).sort());
    const links = await linkNames(lab.node);
    expect(links).toContain(hv(a, 'eth0', 'kpt-gc39'));
    expect(links).not.toContain(hv(b, 'eth0', 'kpt-gc39'));
    const nft = (await lab.node.exec('nft', ['list', 'table', 'inet', 'kpr-cni-nat'])).stdout;
    expect(nft).toContain(`kpr-cni/kpt-gc39/${a}/eth0`);
    expect(nft).not.toContain(`kpr-cni/kpt-gc39/${b}/eth0`);
    expectOk(await del(pa, a, conf));
  });
  it('C40 C41 GC with an empty list releases everything of the network, keeping lock and last_reserved_ip files', async () => {
    const conf = kprConf(lab, { name: 'kpt-gc40' });
    const ids = [cid(), cid(), cid()];
    for (const id of ids) expectOk(await add(await pod(), id, conf));
    expect(ipFiles(lab, 'kpt-gc40')).toHaveLength(6);
    expectOk(await cni({ command: 'GC' }, { ...conf, 'cni.dev/valid-attachments': [] }));
    expect(ipFiles(lab, 'kpt-gc40')).toEqual([]);
    expect(existsSync(join(lab.dataDir, 'kpt-gc40', 'lock'))).toBe(true);
    expect(existsSync(join(lab.dataDir, 'kpt-gc40', 'last_reserved_ip.0'))).toBe(true);
    const links = await linkNames(lab.node);
    expect(ids.map((id) => hv(id, 'eth0', 'kpt-gc40')).filter((n) => links.includes(n))).toEqual([]);
  });
  it('C42 refuses GC for a 1.0.0 config with code 1', async () => {
    expectError(await cni({ command: 'GC' }, { ...kprConf(lab, { cniVersion: '1.0.0' }), 'cni.dev/valid-attachments': [] }), 1, /GC/);
  });
  it('C43 GC goes on past a failing IPAM delegate and reports its error', async () => {
    const name = 'kpt-gc43';
    const conf = { cniVersion: '1.0.0', name, type: 'kpr-cni', ipam: { type: 'host-local', dataDir: lab.dataDir, ranges: [[{ subnet: '10.245.0.0/24' }]] } };
    const p = await pod();
    const id = cid();
    expectOk(await add(p, id, conf));
    // Debian's host-local (spec 1.0.0) refuses a 1.1.0 GC: the veth must still go.
    const g = await cni({ command: 'GC' }, { ...conf, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] });
    expectError(g, 999, /IPAM: host-local GC/);
    expect(await linkNames(lab.node)).not.toContain(hv(id, 'eth0', name));
    expectOk(await del(p, id, conf));
  });
  it('C46 C47 C48 stores reservations in the host-local layout, in order, one per family', async () => {
    const name = 'kpt-layout';
    const conf = kprConf(lab, { name, v4: '10.246.0.0/24', v6: 'fd00:246::/64' });
    const p1 = await pod();
    const p2 = await pod();
    const [a, b] = [cid(), cid()];
    const r1 = await add(p1, a, conf);
    const r2 = await add(p2, b, conf);
    expect((r1.json?.ips as Array<{ address: string }>).map((i) => i.address)).toEqual(['10.246.0.2/24', 'fd00:246::2/64']);
    expect((r2.json?.ips as Array<{ address: string }>).map((i) => i.address)).toEqual(['10.246.0.3/24', 'fd00:246::3/64']);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(join(lab.dataDir, name, '10.246.0.2'), 'utf8')).toBe(`${a}\r\neth0`);
    expect(readFileSync(join(lab.dataDir, name, 'last_reserved_ip.0'), 'utf8')).toBe('10.246.0.3');
    expectOk(await del(p1, a, conf));
    expectOk(await del(p2, b, conf));
  });
  it('C49 applies the configured MTU to both veth ends and the bridge, and reports it', async () => {
    const conf = kprConf(lab, { name: 'kpt-mtu', extra: { mtu: 1400, bridge: 'kprmtu0' } });
    const p = await pod();
    const id = cid();
    const r = await add(p, id, conf);
    expectOk(r);
    expect((r.json?.interfaces as Array<{ mtu?: number }>)[2]?.mtu).toBe(1400);
    const mtu = async (ns: Netns, dev: string) => (await ipj(ns, ['link', 'show', 'dev', dev]))[0]?.mtu;
    expect(await mtu(p, 'eth0')).toBe(1400);
    expect(await mtu(lab.node, hv(id, 'eth0', 'kpt-mtu'))).toBe(1400);
    expect(await mtu(lab.node, 'kprmtu0')).toBe(1400);
    expectOk(await del(p, id, conf));
  });
  it('C49 detects the MTU from the uplink minus the overlay overhead', async () => {
    await lab.node.ip(['link', 'set', lab.uplink, 'mtu', '1480']);
    const conf = kprConf(lab, { name: 'kpt-mtu2', extra: { encapOverhead: 50, bridge: 'kprmtu1' } });
    const p = await pod();
    const id = cid();
    const r = await add(p, id, conf);
    await lab.node.ip(['link', 'set', lab.uplink, 'mtu', '1500']);
    expect((r.json?.interfaces as Array<{ mtu?: number }>)[2]?.mtu).toBe(1430);
    expectOk(await del(p, id, conf));
  });
  it('C50 refuses names and IPAM types that could escape their directory', async () => {
    expectError(await add(await pod(), cid(), { ...kprConf(lab), name: '../etc' }), 7, /name/);
    expectError(await add(await pod(), cid(), kprConf(lab, { ipam: { type: '../../bin/sh' } })), 7, /ipam\.type/);
  });
});

describe('IPAM delegation and kpr-ipam', () => {
  it('delegates a non-kpr IPAM type to the plugin in CNI_PATH (host-local) and DEL releases through it', async () => {
    const name = 'kpt-hl';
    const conf = { cniVersion: '1.0.0', name, type: 'kpr-cni', ipam: { type: 'host-local', dataDir: lab.dataDir, ranges: [[{ subnet: '10.247.0.0/24' }]] } };
    const p = await pod();
    const id = cid();
    const r = await add(p, id, conf);
    expectOk(r);
    expect(await podAddrs(p)).toEqual(['10.247.0.2/24']);
    expect(ipFiles(lab, name)).toEqual(['10.247.0.2']);
    expectOk(await cni({ command: 'CHECK', containerId: id, netns: p.path, ifName: 'eth0' }, withPrev(conf, r.json)));
    expectOk(await del(p, id, conf));
    expect(ipFiles(lab, name)).toEqual([]);
  });
  it('reports a missing delegate with code 4 naming it and CNI_PATH', async () => {
    const conf = { ...kprConf(lab), ipam: { type: 'no-such-ipam' } };
    expectError(await add(await pod(), cid(), conf, { path: REF_CNI_DIR }), 4, /no-such-ipam/);
  });
  it('serves the reference bridge plugin as kpr-ipam', async () => {
    {
      const bin = PINNED_BIN;
      const name = 'kpt-refbr';
      const conf = { cniVersion: '1.0.0', name, type: 'bridge', bridge: 'kptrefbr0', isGateway: true,
        ipam: { type: 'kpr-ipam', dataDir: lab.dataDir, ranges: [[{ subnet: '10.248.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] } };
      const p = await pod();
      const id = cid();
      const inv = { containerId: id, netns: p.path, ifName: 'eth0', path: `${bin}:${REF_CNI_DIR}` };
      const r = await runPlugin(lab.node, join(REF_CNI_DIR, 'bridge'), { command: 'ADD', ...inv }, JSON.stringify(conf));
      expectOk(r);
      expect(await podAddrs(p)).toEqual(['10.248.0.2/24']);
      expect(ipFiles(lab, name)).toEqual(['10.248.0.2']);
      expectOk(await runPlugin(lab.node, join(REF_CNI_DIR, 'bridge'), { command: 'DEL', ...inv }, JSON.stringify(conf)));
      expect(ipFiles(lab, name)).toEqual([]);
    }
  });
});
