// The only code that runs `ip`: `ip -j` reads for CHECK and GC, GC's deletions, the
// rare read of a pod's routes when ADD finds a route's destination taken, and ADD's and
// DEL's link ops where an addon is missing (rtnetlink.ts: one `ip -force -batch -` on
// the node without netlink.node, in the pod without netlink.node or kpr-sys.node).
import { readFileSync } from 'node:fs';
import { KprError } from '../lib/errors.ts';

export interface BatchLine {
  cmd: string;
  /** The line may fail with this error text (e.g. "File exists" for a shared bridge). */
  mayFail?: string;
}

export interface Where {
  /** Path of the network namespace; absent for the plugin's own (the node's). */
  netns?: string;
  /** sysctl paths under /proc/sys to write with "0"/"1" inside the netns first. */
  preSysctls?: ReadonlyArray<readonly [string, string]>;
}

/** The name of a namespace that `ip -n` can address itself (one exec instead of nsenter's two). */
function namedNetns(path: string): string | undefined {
  return /^(?:\/var)?\/run\/netns\/([^/]+)$/.exec(path)?.[1];
}

function command(where: Where, ipArgs: readonly string[]): [string, string[]] {
  if (!where.netns) return ['ip', [...ipArgs]];
  const sys = where.preSysctls ?? [];
  const named = namedNetns(where.netns);
  if (sys.length === 0 && named) return ['ip', ['-n', named, ...ipArgs]];
  if (sys.length === 0) return ['nsenter', [`--net=${where.netns}`, 'ip', ...ipArgs]];
  // Sysctls of a netns are only reachable from inside it; a shell there writes them
  // before exec'ing ip, in the same spawn. Paths and values come as arguments, never
  // as script text.
  const script = 'while [ $# -gt 0 ] && [ "$1" != -- ]; do printf %s "$2" > "/proc/sys/$1" || exit 1; shift 2; done; shift; exec ip "$@"';
  return ['nsenter', [`--net=${where.netns}`, 'sh', '-c', script, 'sh', ...sys.flatMap(([k, v]) => [k, v]), '--', ...ipArgs]];
}

// Loaded on first use: ADD and DEL spawn nothing where the addons are installed, and
// node:child_process costs every plugin call ~2 ms to load.
const spawnSync = () => process.getBuiltinModule('node:child_process').spawnSync;

export function describeWhere(where: Where): string {
  return where.netns ? `netns ${where.netns}` : 'node netns';
}

/** Failed line numbers (1-based) reported by `ip -force -batch`, with the messages before each. */
export function failedLines(stderr: string): Map<number, string> {
  const out = new Map<number, string>();
  let pending: string[] = [];
  for (const line of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)$/.exec(line.trim());
    if (m) {
      out.set(Number(m[1]), pending.join(' ').trim());
      pending = [];
    } else if (line.trim()) pending.push(line.trim());
  }
  return out;
}

/**
 * Runs the lines in one spawn. Every line is attempted (-force); a failure is an error
 * unless the line allows exactly that failure. Throws a KprError naming the line;
 * returns the indexes of the lines that failed as they were allowed to.
 */
export function ipBatch(where: Where, lines: readonly BatchLine[]): number[] {
  if (lines.length === 0) return [];
  const [cmd, args] = command(where, ['-force', '-batch', '-']);
  const r = spawnSync()(cmd, args, { input: `${lines.map((l) => l.cmd).join('\n')}\n`, encoding: 'utf8' });
  if (r.error) throw new KprError('KERNEL', `cannot run ${cmd}: ${r.error.message}`, { object: describeWhere(where) });
  if (r.status === 0) return [];
  const failed = failedLines(r.stderr);
  if (failed.size === 0) throw new KprError('KERNEL', `${cmd} exited ${r.status ?? r.signal}: ${r.stderr.trim()}`, { object: describeWhere(where) });
  const allowed: number[] = [];
  for (const [n, msg] of failed) {
    const line = lines[n - 1];
    if (line?.mayFail && msg.includes(line.mayFail)) allowed.push(n - 1);
    else throw new KprError('KERNEL', `"ip ${line?.cmd ?? '?'}" failed: ${msg}`, { object: describeWhere(where) });
  }
  return allowed;
}

/** `ip -j <args>` parsed; several commands may be batched, each answer is one array. */
export function ipJson(where: Where, args: readonly string[]): unknown {
  const [cmd, full] = command(where, ['-j', ...args]);
  const r = spawnSync()(cmd, full, { encoding: 'utf8' });
  if (r.error) throw new KprError('KERNEL', `cannot run ${cmd}: ${r.error.message}`, { object: describeWhere(where) });
  if (r.status !== 0) throw new KprError('KERNEL', `ip -j ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr.trim()}`, { object: describeWhere(where) });
  return r.stdout.trim() === '' ? [] : JSON.parse(r.stdout);
}

/** Like ipJson for a batch of reads: one array per line, in order. */
export function ipJsonBatch(where: Where, lines: readonly string[]): unknown[][] {
  const [cmd, args] = command(where, ['-j', '-batch', '-']);
  const r = spawnSync()(cmd, args, { input: `${lines.join('\n')}\n`, encoding: 'utf8' });
  if (r.error) throw new KprError('KERNEL', `cannot run ${cmd}: ${r.error.message}`, { object: describeWhere(where) });
  if (r.status !== 0) throw new KprError('KERNEL', `ip -j -batch exited ${r.status ?? r.signal}: ${r.stderr.trim()}`, { object: describeWhere(where) });
  // Each command prints one JSON array; they follow each other without a separator.
  return splitJsonArrays(r.stdout);
}

export function splitJsonArrays(text: string): unknown[][] {
  const out: unknown[][] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') { if (depth++ === 0) start = i; }
    else if (c === ']' || c === '}') {
      if (--depth === 0) out.push(JSON.parse(text.slice(start, i + 1)) as unknown[]);
    }
  }
  return out;
}

/** Names of the interfaces in the plugin's own netns, from /proc/self/net/dev. */
export function nodeLinkNames(): Set<string> {
  const names = new Set<string>();
  for (const line of readProcNetDev().split('\n').slice(2)) {
    const name = line.split(':')[0]?.trim();
    if (name) names.add(name);
  }
  return names;
}

function readProcNetDev(): string {
  try { return readFileSync('/proc/self/net/dev', 'utf8'); } catch { return ''; }
}
