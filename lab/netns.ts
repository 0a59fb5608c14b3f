// Network namespaces for real-kernel tests. Every name starts with NS_PREFIX and
// carries the creating process's pid, so a later run can tell leftovers of a crashed
// run (pid gone) from namespaces of a run still in progress.
import { run } from '../lib/exec.ts';

export const NS_PREFIX = 'kpt-';

let counter = 0;

/** A short unique token for names of namespaces and interfaces (<= 15 chars with a role). */
export function uniqueToken(): string {
  counter += 1;
  return `${process.pid.toString(36)}${counter.toString(36)}`;
}

export class Netns {
  readonly name: string;

  private constructor(name: string) {
    this.name = name;
  }

  static async create(role: string): Promise<Netns> {
    const name = `${NS_PREFIX}${process.pid}-${uniqueToken()}-${role}`;
    await run('ip', ['netns', 'add', name]);
    const ns = new Netns(name);
    await ns.ip(['link', 'set', 'lo', 'up']);
    return ns;
  }

  get path(): string {
    return `/var/run/netns/${this.name}`;
  }

  /** Runs a command inside the namespace. */
  exec(cmd: string, args: readonly string[], opts: { input?: string; allowFailure?: boolean } = {}) {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], opts);
  }

  ip(args: readonly string[]) {
    return run('ip', ['-n', this.name, ...args]);
  }

  /** Many `ip` commands in one spawn. */
  ipBatch(lines: readonly string[]) {
    return run('ip', ['-n', this.name, '-batch', '-'], { input: `${lines.join('\n')}\n` });
  }

  sysctl(key: string, value: string | number) {
    return this.exec('sysctl', ['-qw', `${key}=${value}`]);
  }

  /** Kills what still runs inside, then deletes the namespace. Never throws. */
  async destroy(): Promise<void> {
    const pids = await run('ip', ['netns', 'pids', this.name], { allowFailure: true });
    for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
      try { process.kill(Number(pid), 'SIGKILL'); } catch { /* already gone */ }
    }
    await run('ip', ['netns', 'del', this.name], { allowFailure: true });
  }
}

/** Connects two namespaces with a veth pair and brings both ends up. */
export async function vethPair(a: Netns, aIf: string, b: Netns, bIf: string): Promise<void> {
  await a.ip(['link', 'add', aIf, 'type', 'veth', 'peer', 'name', bIf, 'netns', b.name]);
  await a.ip(['link', 'set', aIf, 'up']);
  await b.ip(['link', 'set', bIf, 'up']);
}

/** Namespaces that a test owns, all destroyed by one call (from afterAll / finally). */
export class NamespaceSet {
  private readonly all: Netns[] = [];

  async create(role: string): Promise<Netns> {
    const ns = await Netns.create(role);
    this.all.push(ns);
    return ns;
  }

  async destroyAll(): Promise<void> {
    await Promise.all(this.all.splice(0).map((ns) => ns.destroy()));
  }
}

/** Names of namespaces left by runs whose process no longer exists. */
export async function staleNamespaces(): Promise<string[]> {
  const out = await run('ip', ['netns', 'list'], { allowFailure: true });
  return out.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(NS_PREFIX))
    .filter((n) => {
      const pid = Number(n.slice(NS_PREFIX.length).split('-')[0]);
      if (!Number.isInteger(pid) || pid <= 0) return true;
      try { process.kill(pid, 0); return false; } catch { return true; }
    });
}
