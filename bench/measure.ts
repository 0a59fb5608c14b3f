// Small measuring helpers shared by the benchmarks.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor(s.length / 2)] as number) : NaN;
}

/** Wall time (ms) of one run of a command fed `input` on stdin; throws if it fails. */
export function timeCommand(cmd: string, args: readonly string[], input: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim()}`))));
    // A command that reads no stdin (dd if=FILE) may exit before the write: its exit
    // status is what counts, not the EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}
