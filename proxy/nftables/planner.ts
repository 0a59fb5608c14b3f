// Keeps the desired table in step with the proxy snapshot and turns it into
// transactions. Pure (no kernel): partial syncs re-render only the changed
// ServicePorts and emit only what changed; full syncs compare with the kernel table.
import { isDeepStrictEqual } from 'node:util';
import { KprError } from '../../lib/errors.ts';
import type { RulesConfig } from '../backend.ts';
import type { Endpoint, NodeInfo, ProxySnapshot, ServicePort } from '../model/types.ts';
import { diffChanges, diffFull, type KernelTable } from './diff.ts';
import { TABLE, familyWords } from './layout.ts';
import { renderBase } from './render-base.ts';
import { renderServicePort, type ServiceContribution } from './render.ts';
import { DesiredTable } from './state.ts';
import type { Transaction } from './transaction.ts';
import { ProxyError } from '../errors.ts';

/** Owner key of the fixed skeleton; ServicePort keys always contain a "/". */
const BASE = 'base';

const NO_ENDPOINTS: readonly Endpoint[] = [];

/** What a ServicePort was rendered from, and its slot order. */
interface Rendered {
  sp: ServicePort;
  endpoints: readonly Endpoint[];
  node: NodeInfo;
  slots: ServiceContribution['slots'];
}

export class Planner {
  private readonly desired = new DesiredTable();
  private lastConfig: RulesConfig | undefined;
  private readonly rendered = new Map<string, Rendered>();

  /**
   * Brings the desired table up to date: only `changed` ServicePorts, or all of them
   * when `changed` is undefined or the config changed (it shapes every rule).
   * `changed` undefined means a full sync follows (`full`), so no changes are recorded.
   */
  update(snapshot: ProxySnapshot, config: RulesConfig, changed: ReadonlySet<string> | undefined): void {
    if (changed === undefined) this.desired.stopTracking();
    let keys: Iterable<string> | undefined = changed;
    const configChanged = !isDeepStrictEqual(config, this.lastConfig);
    if (configChanged) {
      this.desired.set(BASE, renderBase(config));
      this.lastConfig = config;
      keys = undefined;
    }
    // On a full update, a ServicePort rendered from the very same objects is kept: rendering
    // is pure and the model replaces what changed, never mutates it. So a periodic full
    // sync re-renders nothing that did not change (10,000 Services: no 100s of MB of garbage).
    const reuse = keys === undefined && !configChanged;
    if (keys === undefined) {
      const stale = [...this.desired.owners()].filter((o) => o !== BASE && !snapshot.services.has(o));
      keys = [...stale, ...[...snapshot.services.keys()].sort()];
    }
    for (const key of keys) {
      const sp = snapshot.services.get(key);
      if (!sp) {
        this.desired.set(key, undefined);
        this.rendered.delete(key);
        continue;
      }
      const endpoints = snapshot.endpoints.get(key) ?? NO_ENDPOINTS;
      const prev = this.rendered.get(key);
      if (reuse && prev?.sp === sp && prev.endpoints === endpoints && prev.node === snapshot.node) continue;
      const c = renderServicePort(sp, endpoints, snapshot.node, config, prev?.slots);
      this.rendered.set(key, { sp, endpoints, node: snapshot.node, slots: c.slots });
      this.desired.set(key, { chains: c.chains, sets: c.sets, elements: c.elements, slotElements: c.slotElements, hairpin: c.hairpin });
    }
  }

  /** The changes since the previous transaction. */
  partial(): Transaction {
    if (!this.desired.isTracking) throw new ProxyError('NFT_PLAN', 'a full update (changed undefined) must be followed by a full sync', { object: `table ${TABLE}` });
    return diffChanges(this.family(), TABLE, this.desired.takeChanges());
  }

  /**
   * The whole desired table against the kernel's (undefined: nothing there). The
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
