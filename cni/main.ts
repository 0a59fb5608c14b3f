// kpr-cni's entry (dist/bin/kpr-cni runs it): CNI_* environment and stdin in, one
// result or error object on stdout, logs on stderr only. Verbs load on first use so
// that VERSION and the runtime's probes stay cheap.
import { fstatSync, readSync, writeSync } from 'node:fs';
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

/** Waits 1 ms: a non-blocking pipe said EAGAIN. */
function pause(): void {
  Atomics.wait(sleeper ??= new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
}

/** Whether stdin is a terminal (or another character device, such as /dev/null: nothing to read either). */
function stdinIsDevice(): boolean {
  try { return fstatSync(0).isCharacterDevice(); } catch { return false; }
}

/**
 * All of stdin, synchronously. The runtime's pipe may be non-blocking and still
 * empty when we start (EAGAIN under load): wait briefly and read on until EOF.
 */
export function readStdin(): string {
  // Not process.stdin: creating that stream keeps the event loop (and the runtime)
  // waiting after the work is done. Nor node:tty, which loads Node's stream machinery.
  if (stdinIsDevice()) return '';
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') { pause(); continue; }
      if (code === 'EOF') break;
      throw new CniError(CniCode.ioFailure, 'cannot read the network config from stdin', (err as Error).message);
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * All of text to stdout, synchronously: not through process.stdout, whose stream (and
 * the modules behind it) costs a plugin call 1-3 ms. The pipe may be non-blocking.
 */
function writeStdout(text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length;) {
    try {
      off += writeSync(1, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      pause();
    }
  }
}

/** Writes the outcome; logs the failure (and, with KPR_LOG_LEVEL=debug, every call) to stderr. */
export async function finish(name: string, env: Env, out: Outcome): Promise<number> {
  writeStdout(out.stdout);
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
