// Faults: many ADDs at once, a plugin killed in the middle of ADD, corrupted IPAM
// state, and a node "reboot" (every namespace gone at once) followed by GC.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueToken, type Netns } from '../lab/netns.ts';
import { buildExists, createLab, ipFiles, KPR_CNI, kprConf, linkNames, REF_CNI_DIR, runPlugin, type Lab, type PluginRun } from '../test/support/cni-kernel.ts';
import { hostVethName } from './names.ts';

let lab: Lab;
beforeAll(async () => {
  if (!buildExists()) throw new Error(`${KPR_CNI} missing: run "npm run build" first`);
  lab = await createLab();
});
afterAll(async () => { await lab?.destroy(); });

const cid = () => `c${uniqueToken()}`;
const addrsOf = (r: PluginRun) => (r.json?.ips as Array<{ address: string }>).map((i) => i.address.split('/')[0] ?? '');
const kprVeths = async (ns: Netns) => (await linkNames(ns)).filter((n) => /^kpr[0-9a-f]{12}$/.test(n));

async function manyPods(n: number): Promise<Netns[]> {
  const out: Netns[] = [];
  for (let i = 0; i < n; i += 10) out.push(...(await Promise.all(Array.from({ length: Math.min(10, n - i) }, () => lab.set.create('p')))));
  return out;
}

describe('concurrency', () => {
  it('100 concurrent ADDs get 100 distinct addresses; 100 concurrent DELs free them all', { timeout: 240_000 }, async () => {
    const conf = JSON.stringify(kprConf(lab, { name: 'kpt-hundred', v4: '10.240.0.0/24', v6: null, ipMasq: true }));
    const pods = await manyPods(100);
    const ids = pods.map(() => cid());
    const adds = await Promise.all(pods.map((p, i) => runPlugin(lab.node, KPR_CNI, { command: 'ADD', containerId: ids[i], netns: p.path, ifName: 'eth0' }, conf)));
    expect(adds.filter((r) => r.code !== 0).map((r) => r.stdout)).toEqual([]);
    const addrs = adds.flatMap(addrsOf);
    expect(new Set(addrs).size).toBe(100);
    expect(ipFiles(lab, 'kpt-hundred')).toHaveLength(100);
    expect(await kprVeths(lab.node)).toHaveLength(100);
    const dels = await Promise.all(pods.map((p, i) => runPlugin(lab.node, KPR_CNI, { command: 'DEL', containerId: ids[i], netns: p.path, ifName: 'eth0' }, conf)));
    expect(dels.filter((r) => r.code !== 0).map((r) => r.stdout)).toEqual([]);
    expect(ipFiles(lab, 'kpt-hundred')).toEqual([]);
    expect(await kprVeths(lab.node)).toEqual([]);
    expect((await lab.node.exec('nft', ['list', 'table', 'inet', 'kpr-cni-nat'], { allowFailure: true })).exitCode).not.toBe(0);
    await Promise.all(pods.map((p) => p.destroy()));
  });

  it('concurrent ADDs beyond the pool: the rest fail cleanly with "no addresses left" and leave nothing', { timeout: 120_000 }, async () => {
    const conf = JSON.stringify(kprConf(lab, { name: 'kpt-small', v4: '10.241.0.0/28', v6: null, mode: 'routed' }));
    const pods = await manyPods(20);
    const adds = await Promise.all(pods.map((p) => runPlugin(lab.node, KPR_CNI, { command: 'ADD', containerId: cid(), netns: p.path, ifName: 'eth0' }, conf)));
    const ok = adds.filter((r) => r.code === 0);
    const failed = adds.filter((r) => r.code !== 0);
    // A /28 has 14 hosts, one of them the gateway.
    expect(ok).toHaveLength(13);
    expect(new Set(ok.flatMap(addrsOf)).size).toBe(13);
    for (const f of failed) expect(f.json).toMatchObject({ code: 101, msg: expect.stringMatching(/no addresses left/) });
    expect(await kprVeths(lab.node)).toHaveLength(13);
    expect(ipFiles(lab, 'kpt-small')).toHaveLength(13);
    expect((await runPlugin(lab.node, KPR_CNI, { command: 'GC' }, JSON.stringify({ ...JSON.parse(conf), cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] }))).code).toBe(0);
    expect(await kprVeths(lab.node)).toEqual([]);
    await Promise.all(pods.map((p) => p.destroy()));
  });
});

describe('kill -9 in the middle of ADD', () => {
  it('leaves a veth and a reservation that GC then removes', async () => {
    // An nft that announces itself and hangs: ADD gets stuck after the veth, the
    // addresses and the routes exist, just before masquerade.
    const bin = mkdtempSync(join(tmpdir(), 'kpr-hang-'));
    const marker = join(bin, 'reached');
    writeFileSync(join(bin, 'nft'), `#!/bin/sh\necho $$ > ${marker}\nexec sleep 60\n`);
    chmodSync(join(bin, 'nft'), 0o755);
    try {
      const name = 'kpt-killed';
      const conf = kprConf(lab, { name, ipMasq: true });
      const keep = await lab.set.create('keep');
      const keepId = cid();
      expect((await runPlugin(lab.node, KPR_CNI, { command: 'ADD', containerId: keepId, netns: keep.path, ifName: 'eth0' }, JSON.stringify(conf))).code).toBe(0);
      const keptFiles = ipFiles(lab, name);

      const victim = await lab.set.create('victim');
      const id = cid();
      const child = spawn('ip', ['netns', 'exec', lab.node.name, KPR_CNI], {
        env: { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`, CNI_COMMAND: 'ADD', CNI_CONTAINERID: id, CNI_NETNS: victim.path, CNI_IFNAME: 'eth0', CNI_PATH: REF_CNI_DIR },
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      child.stdin.end(JSON.stringify(conf));
      await expect.poll(() => existsSync(marker), { timeout: 20_000, interval: 50 }).toBe(true);
      const closed = new Promise((r) => child.on('close', r));
      child.kill('SIGKILL');
      process.kill(Number(readFileSync(marker, 'utf8')), 'SIGKILL');
      await closed;

      const hv = hostVethName({ network: name, containerId: id, ifName: 'eth0' });
      expect(await linkNames(lab.node)).toContain(hv);
      expect(ipFiles(lab, name)).toHaveLength(keptFiles.length + 2);

      const gc = await runPlugin(lab.node, KPR_CNI, { command: 'GC' }, JSON.stringify({ ...conf, 'cni.dev/valid-attachments': [{ containerID: keepId, ifname: 'eth0' }] }));
      expect(gc.code, gc.stdout).toBe(0);
      expect(await linkNames(lab.node)).not.toContain(hv);
      expect(await linkNames(victim)).not.toContain('eth0');
      expect(ipFiles(lab, name)).toEqual(keptFiles);
      expect(await linkNames(lab.node)).toContain(hostVethName({ network: name, containerId: keepId, ifName: 'eth0' }));
      expect((await runPlugin(lab.node, KPR_CNI, { command: 'DEL', containerId: keepId, netns: keep.path, ifName: 'eth0' }, JSON.stringify(conf))).code).toBe(0);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

describe('corrupted IPAM state', () => {
  it.each([
    ['garbage', '\u0000\u0001not a reservation\n\n\n'],
    ['truncated', ''],
  ])('a %s reservation file is named in the error and costs no other allocation', async (_kind, content) => {
    const name = `kpt-corrupt-${_kind}`;
    const conf = kprConf(lab, { name, v6: null });
    const pods = await Promise.all([0, 1].map(() => lab.set.create('p')));
    const ids = [cid(), cid()];
    const adds = [];
    for (let i = 0; i < 2; i++) adds.push(await runPlugin(lab.node, KPR_CNI, { command: 'ADD', containerId: ids[i], netns: pods[i]!.path, ifName: 'eth0' }, JSON.stringify(conf)));
    const [a, b] = adds.map((r) => addrsOf(r)[0] ?? '');
    const file = join(lab.dataDir, name, a ?? '');
    writeFileSync(file, content);

    const check = await runPlugin(lab.node, KPR_CNI, { command: 'CHECK', containerId: ids[0], netns: pods[0]!.path, ifName: 'eth0' }, JSON.stringify({ ...conf, prevResult: adds[0]!.json }));
    expect(check.json).toMatchObject({ code: 102 });
    expect(String(check.json?.msg)).toContain(file);

    // A new pod gets a fresh address: neither the unreadable one nor b's.
    const p3 = await lab.set.create('p');
    const third = await runPlugin(lab.node, KPR_CNI, { command: 'ADD', containerId: cid(), netns: p3.path, ifName: 'eth0' }, JSON.stringify(conf));
    expect(third.code, third.stdout).toBe(0);
    expect([a, b]).not.toContain(addrsOf(third)[0]);
    expect(ipFiles(lab, name)).toEqual(expect.arrayContaining([a, b, addrsOf(third)[0]]));
    expect(readFileSync(join(lab.dataDir, name, b ?? ''), 'utf8')).toBe(`${ids[1]}\r\neth0`);
  });

  it('a truncated last_reserved_ip file does not stop allocation', async () => {
    const name = 'kpt-lastres';
    const conf = kprConf(lab, { name, v6: null });
    const p = await lab.set.create('p');
    expect((await runPlugin(lab.node, KPR_CNI, { command: 'ADD', containerId: cid(), netns: p.path, ifName: 'eth0' }, JSON.stringify(conf))).code).toBe(0);
    writeFileSync(join(lab.dataDir, name, 'last_reserved_ip.0'), '10.2');
    const q = await lab.set.create('p');
    const r = await runPlugin(lab.node, KPR_CNI, { command: 'ADD', containerId: cid(), netns: q.path, ifName: 'eth0' }, JSON.stringify(conf));
    expect(r.code, r.stdout).toBe(0);
    expect(ipFiles(lab, name)).toHaveLength(2);
  });
});

describe('node reboot', () => {
  it('every namespace gone at once, then GC on the new node frees every reservation', { timeout: 120_000 }, async () => {
    const before = await createLab();
    const after = await createLab();
    try {
      const name = 'kpt-reboot';
      const conf = kprConf(before, { name, ipMasq: true, mode: 'routed' });
      for (let i = 0; i < 5; i++) {
        const p = await before.set.create('p');
        expect((await runPlugin(before.node, KPR_CNI, { command: 'ADD', containerId: cid(), netns: p.path, ifName: 'eth0' }, JSON.stringify(conf))).code).toBe(0);
      }
      expect(ipFiles(before, name)).toHaveLength(10);
      await before.set.destroyAll();
      // The data dir survives (it is on disk); the runtime knows of no attachment any more.
      const gc = await runPlugin(after.node, KPR_CNI, { command: 'GC' }, JSON.stringify({ ...conf, 'cni.dev/valid-attachments': [] }));
      expect(gc.code, gc.stdout).toBe(0);
      expect(ipFiles(before, name)).toEqual([]);
      expect(existsSync(join(before.dataDir, name, 'lock'))).toBe(true);
    } finally {
      await before.destroy();
      await after.destroy();
    }
  });
});
