// `kpr inspect --watch` in a real terminal (tmux): the built binary redraws in place,
// and an EndpointSlice change shows up as a new backend without restarting it.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OBJECTS } from '../../lab/flow-table.ts';
import { NamespaceSet, type Netns } from '../../lab/netns.ts';
import { slices } from '../../lab/objects.ts';
import { run } from '../../lib/exec.ts';
import { NftablesProxier } from '../nftables/proxier.ts';
import { newState, program } from '../../test/support/flows-fixture.ts';
import { pinBuiltKpr } from '../../test/support/built-kpr.ts';

const SESSION = `kpt-watch-${process.pid}`;
const pane = async () => (await run('tmux', ['capture-pane', '-p', '-t', SESSION])).stdout;

async function waitForPane(want: RegExp, timeoutMs = 15_000): Promise<string> {
  let text = '';
  for (const t0 = Date.now(); Date.now() - t0 < timeoutMs; await sleep(200)) {
    text = await pane();
    if (want.test(text)) return text;
  }
  throw new Error(`pane never matched ${want}:\n${text}`);
}

describe('kpr inspect --watch in a terminal', () => {
  const set = new NamespaceSet();
  let ns: Netns;
  let release = () => undefined as void;
  let changeSlice = async () => undefined as void;

  beforeAll(async () => {
    const built = await pinBuiltKpr();
    release = built.release;
    ns = await set.create('watch');
    const state = newState();
    const backends = ([4, 6] as const).map((family) => new NftablesProxier({ family, command: ['ip', 'netns', 'exec', ns.name, 'nft'] }));
    await program(state, backends, OBJECTS, true);
    await run('tmux', ['new-session', '-d', '-s', SESSION, '-x', '160', '-y', '50',
      `ip netns exec ${ns.name} ${built.kpr} inspect --watch --interval 0.3 --family 4 --service flows/web`]);
    // The slice change below is a partial sync of the same state, as the daemon makes one.
    changeSlice = () => program(state, backends, slices('web', [{ port: 80, targetPort: 8080 }, { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }], ['s1', 's2', 'r1', 'r2']), false);
  });
  afterAll(async () => {
    await run('tmux', ['kill-session', '-t', SESSION], { allowFailure: true });
    await set.destroyAll();
    release();
  });

  it('redraws in place and shows the new backend after an EndpointSlice change', async () => {
    const before = await waitForPane(/TCP {2}10\.96\.0\.10:80 .*flows\/web:p/);
    expect(before).toMatch(/^Every 0\.3s: kpr inspect/);
    expect(before).not.toContain('10.244.2.32');
    await changeSlice();
    const after = await waitForPane(/-> 10\.244\.2\.32:8080 +0\.2500/);
    // One view on the screen, redrawn at the top, not printed again below.
    expect(after.match(/^Every /gm)).toHaveLength(1);
    expect(after.match(/^TCP {2}10\.96\.0\.10:80 /gm)).toHaveLength(1);
    expect(after.match(/^ {2}-> \d/gm)).toHaveLength(8); // TCP and UDP, four backends each
  });
});
