// ADD and DEL latency of kpr-cni against the reference bridge + host-local plugins,
// measured in the same run, round-robin, each plugin spawned inside a node namespace
// exactly as a runtime spawns it; plus VERSION (pure start-up) for both.
//   npm run build && PATH=$PWD/node_modules/.bin:$PATH node bench/cni/add-del.ts [runs]
import { spawnSync } from 'node:child_process';
import { existsSync, linkSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '../..');
// The build links kpr-cni last: its presence means the executable is complete.
const BUILT = join(REPO, 'dist/bin/kpr-cni');
// A private hard link: a rebuild of dist/ during the run cannot pull the binary away.
const BIN_DIR = mkdtempSync(join(tmpdir(), 'kpr-bench-bin-'));
const KPR = join(BIN_DIR, 'kpr-cni');
const REF = '/usr/lib/cni';
const RUNS = Number(process.argv[2] ?? 50);
const TAG = `kpt-${process.pid}-bench`;
const NODE = `${TAG}-node`;

function sh(cmd: string, args: string[], input?: string): void {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

/** Wall time of one plugin call in ms; throws if it fails. */
function call(bin: string, env: Record<string, string>, conf: string): number {
  const clean: Record<string, string> = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CNI_PATH: REF, ...env };
  const t0 = process.hrtime.bigint();
  const r = spawnSync('ip', ['netns', 'exec', NODE, bin], { env: clean, input: conf, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${bin} ${env.CNI_COMMAND}: ${r.stdout}${r.stderr}`);
  return ms;
}

function stats(xs: number[]): { median: number; p95: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { median: at(0.5), p95: at(0.95) };
}

interface Variant { label: string; bin: string; conf: (dataDir: string) => string }

const variants: Variant[] = [
  {
    label: 'kpr-cni bridge + kpr-ipam (in-process)',
    bin: KPR,
    conf: (d) => JSON.stringify({ cniVersion: '1.0.0', name: 'kpt-bench-kpr', type: 'kpr-cni', mode: 'bridge', bridge: 'kprb0', mtu: 1500,
      ipam: { type: 'kpr-ipam', dataDir: d, ranges: [[{ subnet: '10.201.0.0/24' }]] } }),
  },
  {
    label: 'kpr-cni routed + kpr-ipam (in-process)',
    bin: KPR,
    conf: (d) => JSON.stringify({ cniVersion: '1.0.0', name: 'kpt-bench-rt', type: 'kpr-cni', mode: 'routed', mtu: 1500,
      ipam: { type: 'kpr-ipam', dataDir: d, ranges: [[{ subnet: '10.203.0.0/24' }]] } }),
  },
  {
    label: 'reference bridge + host-local',
    bin: join(REF, 'bridge'),
    conf: (d) => JSON.stringify({ cniVersion: '1.0.0', name: 'kpt-bench-ref', type: 'bridge', bridge: 'refb0', isGateway: true, mtu: 1500,
      ipam: { type: 'host-local', dataDir: d, ranges: [[{ subnet: '10.202.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] } }),
  },
];

function main(): void {
  if (!existsSync(BUILT)) throw new Error(`${BUILT} missing: run "npm run build" first`);
  linkSync(BUILT, KPR);
  const dataDir = mkdtempSync(join(tmpdir(), 'kpr-bench-'));
  const pods: string[] = [];
  sh('ip', ['netns', 'add', NODE]);
  try {
    sh('ip', ['-n', NODE, 'link', 'set', 'lo', 'up']);
    const times = variants.map(() => ({ add: [] as number[], del: [] as number[], version: [] as number[] }));
    const versionEnv = { CNI_COMMAND: 'VERSION' };
    // Warm-up: page cache, first bridge creation.
    for (const v of variants) call(v.bin, versionEnv, '{"cniVersion":"1.0.0"}');
    for (let i = 0; i < RUNS; i++) {
      variants.forEach((v, k) => {
        const pod = `${TAG}-p${i}-${k}`;
        sh('ip', ['netns', 'add', pod]);
        pods.push(pod);
        const env = { CNI_CONTAINERID: `bench${i}x${k}`, CNI_NETNS: `/var/run/netns/${pod}`, CNI_IFNAME: 'eth0' };
        const conf = v.conf(dataDir);
        times[k]!.version.push(call(v.bin, versionEnv, '{"cniVersion":"1.0.0"}'));
        times[k]!.add.push(call(v.bin, { ...env, CNI_COMMAND: 'ADD' }, conf));
        times[k]!.del.push(call(v.bin, { ...env, CNI_COMMAND: 'DEL' }, conf));
        sh('ip', ['netns', 'del', pod]);
        pods.pop();
      });
    }
    const f = (x: number) => x.toFixed(1).padStart(7);
    console.log(`\n${RUNS} runs each, ms (wall, incl. \`ip netns exec\`), node ${process.version}\n`);
    console.log(`${'plugin'.padEnd(42)} ${'ADD med'.padStart(7)} ${'ADD p95'.padStart(7)} ${'DEL med'.padStart(7)} ${'DEL p95'.padStart(7)} ${'VER med'.padStart(7)}`);
    const rows = times.map((t) => ({ add: stats(t.add), del: stats(t.del), version: stats(t.version) }));
    rows.forEach((r, k) => console.log(`${variants[k]!.label.padEnd(42)} ${f(r.add.median)} ${f(r.add.p95)} ${f(r.del.median)} ${f(r.del.p95)} ${f(r.version.median)}`));
    const ref = rows[rows.length - 1]!;
    for (let k = 0; k < rows.length - 1; k++) {
      const r = rows[k]!;
      console.log(`ratio ${variants[k]!.label} / reference: ADD ${(r.add.median / ref.add.median).toFixed(2)}x, DEL ${(r.del.median / ref.del.median).toFixed(2)}x; ` +
        `start-up (VERSION) share of ADD ${((r.version.median / r.add.median) * 100).toFixed(0)}%, of DEL ${((r.version.median / r.del.median) * 100).toFixed(0)}%`);
    }
  } finally {
    for (const p of pods) spawnSync('ip', ['netns', 'del', p]);
    spawnSync('ip', ['netns', 'del', NODE]);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(BIN_DIR, { recursive: true, force: true });
  }
}

main();
