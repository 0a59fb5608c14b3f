// ADD and DEL latency of kpr-cni against the reference bridge + host-local plugins,
// measured in the same run, round-robin, each plugin spawned inside a node namespace
// exactly as a runtime spawns it; plus VERSION (pure start-up) for both, and the floor
// of start-up: a bare `node -e 0` of the Node that runs the bench (the one kpr embeds).
//   npm run build && PATH=$PWD/node_modules/.bin:$PATH node bench/cni/add-del.ts [runs] [BEFORE_DIST_BIN [OTHER_DIST_BIN...]]
// BEFORE_DIST_BIN, another build's dist/bin (e.g. of main in a second worktree), adds
// its kpr-cni to the same round-robin (both modes); each further one, its bridge mode.
import { spawnSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadavg } from 'node:os';

const REPO = resolve(import.meta.dirname, '../..');
// The build links kpr-cni last: its presence means the executable is complete.
const BUILT = join(REPO, 'dist/bin/kpr-cni');
// A private hard link: a rebuild of dist/ during the run cannot pull the binary away.
const BIN_DIR = mkdtempSync(join(tmpdir(), 'kpr-bench-bin-'));
const KPR = join(BIN_DIR, 'kpr-cni');
const BEFORE_BUILT = process.argv[3];
const BEFORE = join(BIN_DIR, 'before', 'kpr-cni');
const OTHERS = process.argv.slice(4).map((dir, n) => ({ dir: resolve(dir), bin: join(BIN_DIR, `other${n}`, 'kpr-cni') }));
const REF = '/usr/lib/cni';
const RUNS = Number(process.argv[2] ?? 50);
const TAG = `kpt-${process.pid}-bench`;
const NODE = `${TAG}-node`;

function sh(cmd: string, args: string[], input?: string): void {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

// CPU time of waited-for children (the plugin and every process it waits for), from
// /proc/self/stat's cutime + cstime: clock ticks, so only a mean over many calls is
// meaningful. Unlike wall time, it barely moves with the load of a shared machine.
const TICK_MS = 1000 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);
function childCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').replace(/^.*\) /, '').split(' ');
  // After "pid (comm) ": state is field 3, cutime 16 and cstime 17.
  return (Number(fields[13]) + Number(fields[14])) * TICK_MS;
}
const cpu = new Map<string, number>();

/** Wall time of one plugin call in ms (its CPU time adds up under `key`); throws if it fails. */
function call(bin: string, env: Record<string, string>, conf: string, args: string[] = [], key = ''): number {
  const c0 = childCpuMs();
  const clean: Record<string, string> = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CNI_PATH: REF, ...env };
  const t0 = process.hrtime.bigint();
  const r = spawnSync('ip', ['netns', 'exec', NODE, bin, ...args], { env: clean, input: conf, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  cpu.set(key, (cpu.get(key) ?? 0) + childCpuMs() - c0);
  if (r.status !== 0) throw new Error(`${bin} ${env.CNI_COMMAND}: ${r.stdout}${r.stderr}`);
  return ms;
}

function stats(xs: number[]): { median: number; p95: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { median: at(0.5), p95: at(0.95) };
}

interface Variant { label: string; bin: string; conf: (dataDir: string) => string }

const kprVariants = (label: string, bin: string, n: string): Variant[] => [
  {
    label: `${label} bridge + kpr-ipam (in-process)`,
    bin,
    conf: (d) => JSON.stringify({ cniVersion: '1.0.0', name: `kpt-bench-kpr${n}`, type: 'kpr-cni', mode: 'bridge', bridge: `kprb${n}`, mtu: 1500,
      ipam: { type: 'kpr-ipam', dataDir: d, ranges: [[{ subnet: `10.201.${n}.0/24` }]] } }),
  },
  {
    label: `${label} routed + kpr-ipam (in-process)`,
    bin,
    conf: (d) => JSON.stringify({ cniVersion: '1.0.0', name: `kpt-bench-rt${n}`, type: 'kpr-cni', mode: 'routed', mtu: 1500,
      ipam: { type: 'kpr-ipam', dataDir: d, ranges: [[{ subnet: `10.203.${n}.0/24` }]] } }),
  },
];

const variants: Variant[] = [
  ...kprVariants('kpr-cni', KPR, '0'),
  ...(BEFORE_BUILT ? kprVariants('before: kpr-cni', BEFORE, '1') : []),
  ...OTHERS.flatMap((o, n) => kprVariants(`${o.dir}:`, o.bin, String(n + 2)).slice(0, 1)),
  {
    label: 'reference bridge + host-local',
    bin: join(REF, 'bridge'),
    conf: (d) => JSON.stringify({ cniVersion: '1.0.0', name: 'kpt-bench-ref', type: 'bridge', bridge: 'refb0', isGateway: true, mtu: 1500,
      ipam: { type: 'host-local', dataDir: d, ranges: [[{ subnet: '10.202.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] } }),
  },
];

function main(): void {
  if (!existsSync(BUILT)) throw new Error(`${BUILT} missing: run "npm run build" first`);
  // The executable and the addons it loads from beside itself.
  const pin = (from: string, to: string) => {
    mkdirSync(dirname(to), { recursive: true });
    linkSync(join(from, 'kpr-cni'), to);
    for (const a of ['netlink.node', 'kpr-sys.node']) if (existsSync(join(from, a))) linkSync(join(from, a), join(dirname(to), a));
  };
  pin(dirname(BUILT), KPR);
  if (BEFORE_BUILT) pin(resolve(BEFORE_BUILT), BEFORE);
  for (const o of OTHERS) pin(o.dir, o.bin);
  const dataDir = mkdtempSync(join(tmpdir(), 'kpr-bench-'));
  const pods: string[] = [];
  sh('ip', ['netns', 'add', NODE]);
  try {
    sh('ip', ['-n', NODE, 'link', 'set', 'lo', 'up']);
    const times = variants.map(() => ({ add: [] as number[], del: [] as number[], version: [] as number[] }));
    const bare: number[] = [];
    const load0 = loadavg()[0] ?? NaN;
    const versionEnv = { CNI_COMMAND: 'VERSION' };
    // Warm-up: page cache, first bridge creation.
    for (const v of variants) call(v.bin, versionEnv, '{"cniVersion":"1.0.0"}');
    for (let i = 0; i < RUNS; i++) {
      bare.push(call(process.execPath, {}, '', ['-e', '0'], 'floor'));
      variants.forEach((v, k) => {
        const pod = `${TAG}-p${i}-${k}`;
        sh('ip', ['netns', 'add', pod]);
        pods.push(pod);
        const env = { CNI_CONTAINERID: `bench${i}x${k}`, CNI_NETNS: `/var/run/netns/${pod}`, CNI_IFNAME: 'eth0' };
        const conf = v.conf(dataDir);
        times[k]!.version.push(call(v.bin, versionEnv, '{"cniVersion":"1.0.0"}', [], `${k} VER`));
        times[k]!.add.push(call(v.bin, { ...env, CNI_COMMAND: 'ADD' }, conf, [], `${k} ADD`));
        times[k]!.del.push(call(v.bin, { ...env, CNI_COMMAND: 'DEL' }, conf, [], `${k} DEL`));
        sh('ip', ['netns', 'del', pod]);
        pods.pop();
      });
    }
    const f = (x: number) => x.toFixed(1).padStart(7);
    console.log(`\n${RUNS} runs each, ms (wall, incl. \`ip netns exec\`), node ${process.version}, load average ${load0.toFixed(1)} -> ${(loadavg()[0] ?? NaN).toFixed(1)}\n`);
    const cols = ['ADD med', 'ADD p95', 'DEL med', 'DEL p95', 'VER med', 'ADD cpu', 'DEL cpu', 'VER cpu'];
    console.log(`${'plugin (cpu: mean per call)'.padEnd(50)} ${cols.map((c) => c.padStart(7)).join(' ')}`);
    const rows = times.map((t) => ({ add: stats(t.add), del: stats(t.del), version: stats(t.version) }));
    const meanCpu = (key: string) => (cpu.get(key) ?? NaN) / RUNS;
    rows.forEach((r, k) => console.log(`${variants[k]!.label.padEnd(50)} ${f(r.add.median)} ${f(r.add.p95)} ${f(r.del.median)} ${f(r.del.p95)} ${f(r.version.median)} ` +
      `${f(meanCpu(`${k} ADD`))} ${f(meanCpu(`${k} DEL`))} ${f(meanCpu(`${k} VER`))}`));
    const floor = stats(bare);
    console.log(`${`floor: ${process.execPath.split('/').slice(-3).join('/')} -e 0`.padEnd(50)} ${''.padStart(7 * 4 + 3)} ${f(floor.median)} ${''.padStart(7 * 2 + 1)} ${f(meanCpu('floor'))}`);
    const ref = rows[rows.length - 1]!;
    const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
    console.log('');
    for (let k = 0; k < rows.length - 1; k++) {
      const r = rows[k]!;
      console.log(`${variants[k]!.label}: ADD median ${x(r.add.median, ref.add.median)} p95 ${x(r.add.p95, ref.add.p95)}, DEL median ${x(r.del.median, ref.del.median)} of the reference; ` +
        `VERSION ${x(r.version.median, floor.median)} of node -e 0 (${((r.version.median / r.add.median) * 100).toFixed(0)}% of ADD); ` +
        `CPU ADD ${x(meanCpu(`${k} ADD`), meanCpu(`${rows.length - 1} ADD`))}, DEL ${x(meanCpu(`${k} DEL`), meanCpu(`${rows.length - 1} DEL`))} of the reference`);
    }
    // What no Node program can go below: the runtime's own start-up, against the reference's whole call.
    console.log(`floor, node -e 0: ${x(floor.median, ref.add.median)} of the reference's ADD median, ${x(floor.median, ref.del.median)} of its DEL; ` +
      `CPU ${x(meanCpu('floor'), meanCpu(`${rows.length - 1} ADD`))} of its ADD, ${x(meanCpu('floor'), meanCpu(`${rows.length - 1} DEL`))} of its DEL`);
  } finally {
    for (const p of pods) spawnSync('ip', ['netns', 'del', p]);
    spawnSync('ip', ['netns', 'del', NODE]);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(BIN_DIR, { recursive: true, force: true });
  }
}

main();
