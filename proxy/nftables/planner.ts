// Keeps the desired table in step with the proxy snapshot and turns it into
// transactions. Pure (no kernel): partial syncs re-render only the changed
// ServicePorts and emit only what changed; full syncs compare with the kernel table.
import { isDeepStrictEqual } from 'node:util';
import { KprError } from '../../lib/errors.ts';
import type { RulesConfig } from '../backend.ts';
import type { ProxySnapshot } from '../model/types.ts';
import { diffChanges, diffFull, type KernelTable } from './diff.ts';
import { TABLE, familyWords } from './layout.ts';
import { renderBase, type BaseOptions } from './render-base.ts';
import { renderServicePort, type ServiceContribution } from './render.ts';
import { DesiredTable } from './state.ts';
import type { Transaction } from './transaction.ts';

/** Owner key of the fixed skeleton; ServicePort keys always contain a "/". */
const BASE = 'base';

export class Planner {
  private readonly desired = new DesiredTable();
  private lastConfig: RulesConfig | undefined;
  private readonly slots = new Map<string, ServiceContribution['slots']>();

  constructor(private readonly base: BaseOptions) {}

  /**
   * Brings the desired table up to date: only `changed` ServicePorts, or all of them
   * when `changed` is undefined or the config changed (it shapes every rule).
   * `changed` undefined means a full sync follows (`full`), so no changes are recorded.
   */
  update(snapshot: ProxySnapshot, config: RulesConfig, changed: ReadonlySet<string> | undefined): void {
    if (changed === undefined) this.desired.stopTracking();
    let keys: Iterable<string> | undefined = changed;
    if (!isDeepStrictEqual(config, this.lastConfig)) {
      this.desired.set(BASE, renderBase(config, this.base));
      this.lastConfig = config;
      keys = undefined;
    }
    if (keys === undefined) {
      const stale = [...this.desired.owners()].filter((o) => o !== BASE && !snapshot.services.has(o));
      keys = [...stale, ...[...snapshot.services.keys()].sort()];
    }
    for (const key of keys) {
      const sp = snapshot.services.get(key);
      if (!sp) {
        this.desired.set(key, undefined);
        this.slots.delete(key);
        continue;
      }
      const c = renderServicePort(sp, snapshot.endpoints.get(key) ?? [], snapshot.node, config, this.slots.get(key));
      this.slots.set(key, c.slots);
      this.desired.set(key, { chains: c.chains, sets: c.sets, elements: c.elements, slotElements: c.slotElements, hairpin: c.hairpin });
    }
  }

  /** The changes since the previous transaction. */
  partial(): Transaction {
    if (!this.desired.isTracking) throw new KprError('NFT_PLAN', 'a full update (changed undefined) must be followed by a full sync', { object: `table ${TABLE}` });
    return diffChanges(this.family(), TABLE, this.desired.takeChanges());
  }

  /**
   * Everything that differs from the kernel's table (undefined: no table yet). The
   * transaction reads the desired table's elements: render it before the next update.
   */
  full(kernel: KernelTable | undefined): Transaction {
    this.desired.clearChanges();
    return diffFull(this.family(), TABLE, this.desired, kernel);
  }

  private family() {
    return familyWords(this.lastConfig?.family ?? 4).nft;
  }
}
