// The node side of ADD and DEL goes over rtnetlink in-process (cni/rtnetlink.ts): no
// `ip` runs in the node's netns any more, only inside the pod. An `ip` wrapper first in
// PATH logs the netns each run is in. Without netlink.node beside the executable, the
// plugin falls back to `ip` on the node and works as before.
import { chmodSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueToken } from '../lab/netns.ts';
import { buildExists, createLab, ipj, KPR_CNI, kprConf, runPlugin, type Lab } from '../test/support/cni-kernel.ts';

describe('the node side of ADD and DEL', () => {
  let lab: Lab;
  let dir: string;
  let log: string;
  let bare: string;
  beforeAll(async () => {
    if (!buildExists()) throw new Error(`${KPR_CNI} missing: run "npm run build" first`);
    lab = await createLab();
    dir = mkdtempSync(join(tmpdir(), 'kpr-cni-iplog-'));
    log = join(dir, 'log');
    writeFileSync(log, '');
    writeFileSync(join(dir, 'ip'), `#!/bin/sh\necho "$(readlink /proc/self/ns/net) $*" >> '${log}'\nexec /usr/sbin/ip "$@"\n`);
    chmodSync(join(dir, 'ip'), 0o755);
    // The executable alone, without the addon beside it.
    bare = join(dir, 'bare', 'kpr-cni');
    mkdirSync(join(dir, 'bare'));
    linkSync(KPR_CNI, bare);
  });
  afterAll(async () => {
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const nodeNetns = () => `net:[${statSync(lab.node.path).ino}]`;
  const ipRunsOnNode = () => readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith(`${nodeNetns()} `));

  async function addDel(binary: string, mode: 'bridge' | 'routed') {
    const pod = await lab.set.create(`p${uniqueToken()}`);
    const inv = { containerId: `c${uniqueToken()}`, netns: pod.path, ifName: 'eth0', env: { PATH: `${dir}:/usr/sbin:/usr/bin:/sbin:/bin` } };
    // No mtu in the config: the uplink's is read too.
    const conf = JSON.stringify(kprConf(lab, { mode, name: `kpt-nl-${mode}` }));
    const added = await runPlugin(lab.node, binary, { ...inv, command: 'ADD' }, conf);
    expect(added.code, added.stdout + added.stderr).toBe(0);
    const hostVeth = (added.json?.interfaces as Array<{ name: string }>).find((i) => i.name.startsWith('kpr') && i.name !== 'kpr0')?.name ?? '';
    const [link] = await ipj(lab.node, ['-d', 'link', 'show', 'dev', hostVeth]);
    expect(link).toMatchObject({ ifalias: `kpr-cni/kpt-nl-${mode}/${inv.containerId}/eth0`, mtu: 1500, operstate: 'UP' });
    if (mode === 'bridge') expect(link).toMatchObject({ master: 'kpr0', linkinfo: { info_slave_data: { hairpin: true } } });
    const deleted = await runPlugin(lab.node, binary, { ...inv, command: 'DEL' }, conf);
    expect(deleted.code, deleted.stdout + deleted.stderr).toBe(0);
    expect(await ipj(lab.node, ['link', 'show', 'type', 'veth'])).toHaveLength(1);
  }

  it.each(['bridge', 'routed'] as const)('%s: runs no ip on the node, and ip in the pod only', async (mode) => {
    writeFileSync(log, '');
    await addDel(KPR_CNI, mode);
    expect(ipRunsOnNode()).toEqual([]);
    expect(readFileSync(log, 'utf8')).toMatch(/-batch/);
  });

  it('without netlink.node beside it, programs the node through ip as before', async () => {
    writeFileSync(log, '');
    await addDel(bare, 'bridge');
    expect(ipRunsOnNode().length).toBeGreaterThan(0);
  });
});
