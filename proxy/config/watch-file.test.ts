import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { watchConfigFile } from './watch-file.ts';

describe('watchConfigFile (kpr proxy exits when its config file changes)', () => {
  const dirs: string[] = [];
  const stops: (() => void)[] = [];
  afterEach(() => {
    stops.splice(0).forEach((s) => s());
    dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
  });

  /** A ConfigMap-style mount: config.conf -> ..data/config.conf, ..data -> a timestamped directory. */
  function mount(text: string) {
    const dir = mkdtempSync(join(tmpdir(), 'kpr-cfg-'));
    dirs.push(dir);
    const version = (n: number, t: string) => {
      const d = join(dir, `..v${n}`);
      mkdirSync(d);
      writeFileSync(join(d, 'config.conf'), t);
      symlinkSync(`..v${n}`, join(dir, '..tmp'));
      renameSync(join(dir, '..tmp'), join(dir, '..data'));
    };
    version(1, text);
    symlinkSync('..data/config.conf', join(dir, 'config.conf'));
    return { path: join(dir, 'config.conf'), update: (n: number, t: string) => version(n, t) };
  }

  it('fires once when a ConfigMap update swaps in new content, not for a touch or the same content', async () => {
    const m = mount('mode: iptables\n');
    const why: string[] = [];
    stops.push(watchConfigFile(m.path, 'mode: iptables\n', (w) => why.push(w), 50));
    utimesSync(m.path, new Date(), new Date());
    m.update(2, 'mode: iptables\n');
    await sleep(300);
    expect(why).toEqual([]);
    m.update(3, 'mode: nftables\n');
    await sleep(300);
    m.update(4, 'mode: ipvs\n');
    await sleep(300);
    expect(why).toEqual(['the content of the configuration file changed']);
  });

  it('fires when the file goes away', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kpr-cfg-'));
    dirs.push(dir);
    const path = join(dir, 'kp.yaml');
    writeFileSync(path, 'x');
    const why: string[] = [];
    stops.push(watchConfigFile(path, 'x', (w) => why.push(w), 50));
    rmSync(path);
    await sleep(300);
    expect(why).toEqual(['the configuration file is gone']);
  });
});
