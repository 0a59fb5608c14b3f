// `--proxy-mode nftables` for one IP family: the ProxyBackend glue between the
// planner (pure) and nft (apply.ts). Partial syncs write only what changed, from
// kpr's own record of what it programmed; full syncs (first, requested, after a
// failure, and every `reconcileIntervalMs`) list the kernel's table and repair drift.
import type { IPFamily } from '../../lib/ip.ts';
import { createLogger, type Logger } from '../../lib/log.ts';
import type { ProxyBackend, SyncRequest, SyncResult } from '../backend.ts';
import { Nft, type NftOptions } from './apply.ts';
import { TABLE, familyWords } from './layout.ts';
import { Planner } from './planner.ts';
import type { Transaction } from './transaction.ts';

export interface NftablesProxierOptions extends NftOptions {
  family: IPFamily;
  log?: Logger;
  /** Interval between full syncs that compare with the kernel; default 5 minutes. */
  reconcileIntervalMs?: number;
  now?: () => number;
}

export class NftablesProxier implements ProxyBackend {
  readonly mode = 'nftables' as const;
  readonly family: IPFamily;
  private readonly nft: Nft;
  private readonly planner: Planner;
  private readonly log: Logger;
  private readonly reconcileIntervalMs: number;
  private readonly now: () => number;
  private needFull = true;
  private lastFull = 0;

  constructor(opts: NftablesProxierOptions) {
    this.family = opts.family;
    this.nft = new Nft(familyWords(opts.family).nft, TABLE, opts);
    this.planner = new Planner();
    this.log = opts.log ?? createLogger('nftables');
    this.reconcileIntervalMs = opts.reconcileIntervalMs ?? 5 * 60_000;
    this.now = opts.now ?? Date.now;
  }

  async sync(req: SyncRequest): Promise<SyncResult> {
    const full = this.needFull || req.changed === undefined || this.now() - this.lastFull >= this.reconcileIntervalMs;
    // Until this transaction is known to be in the kernel, the next sync must compare with it.
    this.needFull = true;
    let tx;
    if (full) {
      tx = await this.fullSync(req);
    } else {
      this.planner.update(req.snapshot, req.config, req.changed);
      tx = this.planner.partial();
      await this.nft.apply(tx);
    }
    this.needFull = false;
    if (full) this.lastFull = this.now();
    this.log.debug({ family: this.family, full, operations: tx.size }, 'nftables sync');
    return { full, operations: tx.size };
  }

  /** Renders everything, compares with the kernel's table and writes the difference. */
  private async fullSync(req: SyncRequest): Promise<Transaction> {
    // nft -f - and the listing start first: their process start-ups overlap the rendering.
    const applying = this.nft.start();
    const listing = this.nft.list().then((table) => ({ table }), (error: unknown) => ({ error }));
    let tx: Transaction | undefined;
    try {
      this.planner.update(req.snapshot, req.config, undefined);
      const listed = await listing;
      if ('error' in listed) throw listed.error;
      tx = this.planner.full(listed.table);
    } finally {
      await applying.send(tx);
    }
    return tx;
  }

  async cleanup(): Promise<void> {
    await this.nft.deleteTable();
    this.needFull = true;
  }
}
