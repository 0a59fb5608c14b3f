import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { execa } from 'execa';
import { KprError } from './errors.ts';

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * Runs a kernel tool (iptables-restore, nft, ipvsadm, ip, conntrack) and returns its
 * output; a non-zero exit becomes a KprError naming the command and its stderr.
 */
export async function run(cmd: string, args: readonly string[], opts: { input?: string; allowFailure?: boolean } = {}): Promise<RunResult> {
  const result = await execa(cmd, args, {
    input: opts.input,
    reject: false,
    stripFinalNewline: false,
    maxBuffer: 1024 * 1024 * 1024,
  });
  if (result.failed && result.exitCode === undefined) {
    throw new KprError('EXEC', `cannot run ${cmd}: ${result.shortMessage}`, { cause: result.cause });
  }
  const out = { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode ?? -1 };
  if (out.exitCode !== 0 && !opts.allowFailure) {
    throw new KprError('EXEC', `${cmd} ${args.join(' ')} exited ${out.exitCode}: ${out.stderr.trim()}`);
  }
  return out;
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
