// kill -9 of kpr-cni at every step of an ADD (ipMasq on, so both the IPAM store's
// lock and the node-wide masquerade lock are taken): afterwards, DEL of the killed
// attachment, a new ADD and DEL on the node all work at once. Both locks are
// flock(2)s the kernel drops with the process; a lock file left behind (what a
// pid-file lock killed between creating and writing it leaves) holds nothing.
//
// The plugin kills itself with SIGKILL at the named step (KPR_TEST_KILL_AT,
// lib/fault.ts). It runs with a private /run/kpr-cni (bind-mounted inside the mount
// namespace of its `ip netns exec`), so the planted lock file stays in this test.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueToken, type Netns } from '../lab/netns.ts';
import { buildExists, createLab, ipFiles, KPR_CNI, kprConf, linkNames, runPlugin, type Lab } from '../test/support/cni-kernel.ts';
import { hostVethName } from './names.ts';

// In the order ADD reaches them; each one's evidence in the node once it is passed.
const STEPS = [
  ['ipam-locked', 'nothing'],
  ['ipam-written', 'reservation'],
  ['ipam-allocated', 'reservation'],
  ['host-links', 'veth'],
  ['host-sysctls', 'veth'],
  ['pod-configured', 'veth'],
  ['masq-locked', 'veth'],
  ['masq-applied', 'masquerade'],
  ['added', 'masquerade'],
] as const;

let lab: Lab;
let runDir: string;
let wrapper: string;
beforeAll(async () => {
  if (!buildExists()) throw new Error(`${KPR_CNI} missing: run "npm run build" first`);
  lab = await createLab();
  runDir = mkdtempSync(join(tmpdir(), 'kpr-cni-run-'));
  mkdirSync(join(runDir, 'run'));
  wrapper = join(runDir, 'kpr-cni-private-run');
  writeFileSync(wrapper, `#!/bin/sh\nmkdir -p /run/kpr-cni && mount --bind '${runDir}/run' /run/kpr-cni && exec '${KPR_CNI}'\n`);
  chmodSync(wrapper, 0o755);
});
afterAll(async () => {
  await lab?.destroy();
  rmSync(runDir, { recursive: true, force: true });
});

async function masqElements(): Promise<string> {
  const r = await lab.node.exec('nft', ['list', 'table', 'inet', 'kpr-cni-nat'], { allowFailure: true });
  return r.exitCode === 0 ? r.stdout : '';
}

describe.each(['bridge', 'routed'] as const)('%s mode', (mode) => {
  it('after a kill -9 at any step of ADD, DEL of that attachment and ADD and DEL on the node still work', { timeout: 180_000 }, async () => {
    const name = `kpt-kill-${mode}`;
    const conf = JSON.stringify(kprConf(lab, { name, mode, ipMasq: true, v4: mode === 'bridge' ? '10.250.1.0/24' : '10.250.2.0/24', v6: mode === 'bridge' ? 'fd00:250:1::/64' : 'fd00:250:2::/64' }));
    const cni = (command: string, p: Netns, id: string, env: Record<string, string> = {}) =>
      runPlugin(lab.node, wrapper, { command, containerId: id, netns: p.path, ifName: 'eth0', env }, conf);
    // Exactly what a plugin killed between creating its pid-file lock and writing the pid left.
    writeFileSync(join(runDir, 'run', 'masq.lock'), '');

    for (const [step, evidence] of STEPS) {
      const p = await lab.set.create('k');
      const id = `c${uniqueToken()}`;
      const hv = hostVethName({ network: name, containerId: id, ifName: 'eth0' });
      const killed = await cni('ADD', p, id, { KPR_TEST_KILL_AT: step });
      expect(killed, `ADD killed at ${step}`).toMatchObject({ code: -1, stdout: '' });
      // The kill came at that step: what ADD had done by then is there.
      expect(ipFiles(lab, name), step).toHaveLength(evidence === 'nothing' ? 0 : 2);
      expect((await linkNames(lab.node)).includes(hv), step).toBe(evidence === 'veth' || evidence === 'masquerade');
      expect((await masqElements()).includes(id), step).toBe(evidence === 'masquerade');

      // What the runtime does next: DEL the failed attachment, then try again.
      const del = await cni('DEL', p, id);
      expect(del.code, `${step}: DEL ${del.stdout}`).toBe(0);
      expect(ipFiles(lab, name), step).toEqual([]);
      expect(await linkNames(lab.node), step).not.toContain(hv);
      const again = await cni('ADD', p, id);
      expect(again.code, `${step}: ADD ${again.stdout}`).toBe(0);
      expect(await masqElements()).toContain(id);
      // Another pod on the node at the same time.
      const q = await lab.set.create('k');
      const other = `c${uniqueToken()}`;
      expect((await cni('ADD', q, other)).code, step).toBe(0);
      for (const [ns, cid] of [[p, id], [q, other]] as const) expect((await cni('DEL', ns, cid)).code, step).toBe(0);
      expect(ipFiles(lab, name), step).toEqual([]);
      expect(await masqElements(), step).toBe('');
      await p.destroy();
      await q.destroy();
    }
  });
});
