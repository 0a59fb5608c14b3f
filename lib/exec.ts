// The one way kpr runs a kernel tool (iptables-restore, nft, ipvsadm, ipset, ip,
// conntrack) and the one place that turns a tool's failure into a typed error.
//
// It spawns with node:child_process rather than execa: it streams chunked input as it
// is rendered, and execa cost 3 ms more per run and 15 ms for its first (measured in
// nftables mode, where a whole partial sync takes about 25 ms).
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { errorGuard, KprError } from './errors.ts';

/**
 * The kernel's answer behind a failed command, read from the tool's message (the tools
 * print strerror text, not numbers). Callers branch on this, never on stderr text.
 */
export type KernelErrno = 'EEXIST' | 'ENOENT' | 'EBUSY' | 'EPERM' | 'ENODEV' | 'ESRCH';

const ERRNO_TEXT: ReadonlyArray<readonly [KernelErrno, RegExp]> = [
  ['EEXIST', /File exists/],
  ['ENOENT', /No such file or directory/],
  ['EBUSY', /Device or resource busy/],
  ['EPERM', /Operation not permitted/],
  ['ENODEV', /No such device|Cannot find device/],
  ['ESRCH', /No such process/],
];

export function kernelErrno(stderr: string): KernelErrno | undefined {
  return ERRNO_TEXT.find(([, re]) => re.test(stderr))?.[0];
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** Set when the command failed with a recognised kernel error. */
  errno?: KernelErrno;
}

export interface RunOptions {
  /** Text for stdin, whole or as chunks written as they are produced (possibly later). */
  input?: string | Iterable<string> | AsyncIterable<string>;
  /** Resolve with a non-zero exit instead of rejecting (the caller reads exitCode/errno). */
  allowFailure?: boolean;
}

/** `run`'s contract, for a stand-in (e.g. a command prefixed with `ip netns exec NS`). */
export type Runner = (cmd: string, args: readonly string[], opts?: RunOptions) => Promise<RunResult>;

export type ExecErrorCode =
  /** The command could not be started (not installed, not executable). */
  | 'EXEC_SPAWN'
  /** The command ran and exited non-zero. */
  | 'EXEC_EXIT';

export class ExecError extends KprError<ExecErrorCode> {
  readonly command: string;
  readonly exitCode: number | undefined;
  readonly stderr: string;
  readonly errno: KernelErrno | undefined;

  constructor(code: ExecErrorCode, command: string, detail: { exitCode?: number; stderr?: string; cause?: unknown }) {
    const stderr = detail.stderr ?? '';
    const why = code === 'EXEC_SPAWN' ? `cannot run ${command}` : `${command} exited ${detail.exitCode}: ${stderr.trim()}`;
    super(code, why, { cause: detail.cause });
    this.name = 'ExecError';
    this.command = command;
    this.exitCode = detail.exitCode;
    this.stderr = stderr;
    this.errno = code === 'EXEC_EXIT' ? kernelErrno(stderr) : undefined;
  }
}

export const isExecError = errorGuard<ExecErrorCode, ExecError>(ExecError);

/** Runs a command and returns its output; a failure becomes an ExecError naming the command. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => stdout.push(d));
    child.stderr.on('data', (d: Buffer) => stderr.push(d));
    child.on('error', (err) => reject(new ExecError('EXEC_SPAWN', cmd, { cause: err })));
    child.on('close', (code) => {
      const exitCode = code ?? -1;
      const res: RunResult = { stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString(), exitCode };
      if (exitCode === 0) return resolve(res);
      const err = new ExecError('EXEC_EXIT', [cmd, ...args].join(' '), { exitCode, stderr: res.stderr });
      if (opts.allowFailure) resolve({ ...res, errno: err.errno });
      else reject(err);
    });
    // A tool may exit without reading all of its input (a parse error): its exit code and stderr tell.
    child.stdin.on('error', () => undefined);
    const { input } = opts;
    if (input === undefined || typeof input === 'string') child.stdin.end(input);
    else Readable.from(input).on('error', (err) => child.stdin.destroy(err)).pipe(child.stdin);
  });
}

/** Whether a command is on the PATH (without running it). */
export async function commandExists(name: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    try {
      await access(`${dir}/${name}`, constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}
