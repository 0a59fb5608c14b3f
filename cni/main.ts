// kpr-cni's entry (dist/bin/kpr-cni runs it): CNI_* environment and stdin in, one
// result or error object on stdout, logs on stderr only. Verbs load on first use so
// that VERSION and the runtime's probes stay cheap.
import { readSync } from 'node:fs';
import { isatty } from 'node:tty';
import { CniCode, CniError } from './errors.ts';
import { dispatch, type Env, type Outcome, type Plugin } from './skel.ts';

const plugin: Plugin = {
  add: async (req) => (await import('./add.ts')).cmdAdd(req),
  del: async (req) => (await import('./del.ts')).cmdDel(req),
  check: async (req) => (await import('./check.ts')).cmdCheck(req),
  status: async (req) => (await import('./status.ts')).cmdStatus(req),
  gc: async (req) => (await import('./gc.ts')).cmdGc(req),
};

let sleeper: Int32Array | undefined;

/**
 * All of stdin, synchronously. The runtime's pipe may be non-blocking and still
 * empty when we start (EAGAIN under load): wait briefly and read on until EOF.
 */
export function readStdin(): string {
  // tty.isatty, not process.stdin: creating that stream keeps the event loop (and the
  // runtime) waiting after the work is done.
  if (isatty(0)) return '';
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') { Atomics.wait(sleeper ??= new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); continue; }
      if (code === 'EOF') break;
      throw new CniError(CniCode.ioFailure, 'cannot read the network config from stdin', (err as Error).message);
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Writes the outcome; logs the failure (and, with KPR_LOG_LEVEL=debug, every call) to stderr. */
export async function finish(name: string, env: Env, out: Outcome): Promise<number> {
  process.stdout.write(out.stdout);
  if (out.error || env.KPR_LOG_LEVEL === 'debug') {
    const { createLogger } = await import('../lib/log.ts');
    const log = createLogger(name);
    const ctx = { command: env.CNI_COMMAND, containerId: env.CNI_CONTAINERID, ifName: env.CNI_IFNAME, netns: env.CNI_NETNS };
    if (out.error) log.error({ ...ctx, code: out.error.code, details: out.error.details }, out.error.message);
    else log.debug(ctx, 'done');
  }
  return out.exitCode;
}

export async function main(_argv: string[]): Promise<number> {
  const env = process.env;
  return finish('kpr-cni', env, await dispatch({ env, stdin: readStdin }, plugin));
}
