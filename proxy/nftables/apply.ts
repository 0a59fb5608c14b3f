// The only code of the nftables mode that runs `nft`. A transaction goes to one
// `nft -f -` (one atomic batch), streamed to its stdin as it is rendered (no copy of the
// whole text); listing the table's names is only for full syncs.
import { KprError } from '../../lib/errors.ts';
import { run, type RunOptions, type RunResult, type Runner } from '../../lib/exec.ts';
import type { KernelTable } from './diff.ts';
import { listCommands, parseKernelTable } from './kernel-table.ts';
import type { NftFamily, Transaction } from './transaction.ts';
import { ProxyError } from '../errors.ts';

export interface NftOptions {
  runner?: Runner;
  /** The command line that runs nft, e.g. ["ip", "netns", "exec", "ns1", "nft"]; default ["nft"]. */
  command?: readonly string[];
}

export class Nft {
  private readonly runner: Runner;
  private readonly command: readonly string[];

  constructor(
    private readonly family: NftFamily,
    private readonly table: string,
    opts: NftOptions = {},
  ) {
    this.runner = opts.runner ?? run;
    this.command = opts.command ?? ['nft'];
  }

  private nft(args: readonly string[], opts: RunOptions = {}) {
    const [cmd, ...pre] = this.command as [string, ...string[]];
    return this.runner(cmd, [...pre, ...args], opts);
  }

  async apply(tx: Transaction): Promise<void> {
    if (tx.size === 0) return;
    this.check(tx, await this.nft(['-f', '-'], { input: tx.chunks(), allowFailure: true }));
  }

  /**
   * Starts `nft -f -` before its transaction is known, so that the process start-up
   * overlaps the planning; nft reads all of stdin before doing anything. `send`
   * must always be called: undefined closes stdin empty, which changes nothing.
   */
  start(): { send(tx: Transaction | undefined): Promise<void> } {
    let feed: (tx: Transaction | undefined) => void = () => {};
    const txReady = new Promise<Transaction | undefined>((resolve) => { feed = resolve; });
    async function* input(): AsyncGenerator<string> {
      const tx = await txReady;
      if (tx) yield* tx.chunks();
    }
    const running = this.nft(['-f', '-'], { input: input(), allowFailure: true });
    // Awaited by `send`; without a handler now, a failure to spawn before then would be "unhandled".
    running.catch(() => undefined);
    return {
      send: async (tx) => {
        feed(tx);
        const res = await running;
        if (tx) this.check(tx, res);
      },
    };
  }

  private check(tx: Transaction, res: RunResult): void {
    if (res.exitCode !== 0) {
      throw new ProxyError('NFT_APPLY', `nft -f failed (${tx.size} operations): ${res.stderr.trim().slice(0, 2000)}`, { object: `table ${this.family} ${this.table}` });
    }
  }

  /** The names of the table's chains, sets and maps (none when it does not exist). */
  async list(): Promise<KernelTable> {
    const res = await this.nft(['-t', '-f', '-'], { input: listCommands(this.family), allowFailure: true });
    if (res.exitCode !== 0) throw new ProxyError('NFT_LIST', `nft list failed: ${res.stderr.trim()}`, { object: `table ${this.family} ${this.table}` });
    return parseKernelTable(res.stdout, this.table);
  }

  /** Deletes the table; a missing table is not an error. */
  async deleteTable(): Promise<void> {
    const res = await this.nft(['delete', 'table', this.family, this.table], { allowFailure: true });
    if (res.exitCode !== 0 && res.errno !== 'ENOENT') {
      throw new ProxyError('NFT_CLEANUP', `nft delete table failed: ${res.stderr.trim()}`, { object: `table ${this.family} ${this.table}` });
    }
  }
}
