// `dist/bin/kpr proxy` (or another daemon command, e.g. `network`) running inside a
// test's node namespace, as the DaemonSet would run it on a node; its JSON log lines are
// kept for assertions.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { isSea } from 'node:sea';
import { fileURLToPath } from 'node:url';
import type { Netns } from './netns.ts';

/** The built executable (tests), or this very executable (the lab). */
export const KPR_BIN = isSea() ? process.execPath : fileURLToPath(new URL('../dist/bin/kpr', import.meta.url));

export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

export class KprProcess {
  readonly logs: LogLine[] = [];
  private proc: ChildProcess | undefined;
  private waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void; reject: (err: Error) => void }[] = [];

  /** `command` is how the proxy is run: by default the executable in the namespace; a test may run it in a container. */
  constructor(
    private readonly ns: Netns,
    private readonly args: readonly string[],
    /** A kpr subcommand run in the namespace, or the whole command line standing for it (e.g. `podman run`). */
    private readonly command: string | ((ns: Netns, args: readonly string[]) => string[]) = 'proxy',
  ) {}

  /** What the logs and errors call this daemon. */
  private get name(): string {
    return typeof this.command === 'string' ? this.command : 'proxy';
  }

  start(): void {
    const [cmd = '', ...argv] = typeof this.command === 'string'
      ? ['ip', 'netns', 'exec', this.ns.name, KPR_BIN, this.command, ...this.args]
      : this.command(this.ns, this.args);
    const proc = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    createInterface({ input: proc.stderr as NodeJS.ReadableStream }).on('line', (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { msg: text };
      }
      this.logs.push(line);
      if (process.env.KPR_TEST_VERBOSE) process.stderr.write(`[${this.name} ${this.ns.name}] ${text}\n`);
      this.waiters = this.waiters.filter((w) => (w.pred(line) ? (w.resolve(line), false) : true));
    });
    // A proxy that exits fails whoever waits for it, with its last words.
    proc.once('exit', (code, signal) => {
      const why = new Error(`kpr ${this.name} exited (${signal ?? code}); last lines:\n${this.logs.slice(-5).map((l) => l.msg ?? JSON.stringify(l)).join('\n')}`);
      for (const w of this.waiters.splice(0)) w.reject(why);
    });
  }

  /** Resolves with the first log line (from now on, or already seen if `past`) that matches. */
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs = 20_000, past = false): Promise<LogLine> {
    const seen = past ? this.logs.find(pred) : undefined;
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching ${this.name} log line within ${timeoutMs} ms; last lines:\n${this.logs.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (l) => { clearTimeout(timer); resolve(l); },
        reject: (err) => { clearTimeout(timer); reject(err); },
      });
    });
  }

  /** The proxy's pid (`ip netns exec` execs it, so the child is the proxy itself). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Kills the proxy (SIGKILL by default, as a crash would) and waits for it to go. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    // `ip netns exec` execs the proxy, so the child is the proxy itself.
    proc.kill(signal);
    await exited;
  }
}

export const isSync = (l: LogLine) => l.msg === 'synced proxy rules';
