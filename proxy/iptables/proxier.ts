// The iptables mode for one IP family: renders the ServicePorts a sync needs,
// plans a full or partial restore, applies it, and remembers what it programmed.
import type { IPFamily } from '../../lib/ip.ts';
import type { ProxyBackend, RulesConfig, SyncRequest, SyncResult } from '../backend.ts';
import { iptablesTables, type IptablesTables } from './apply.ts';
import { planCleanup } from './cleanup-plan.ts';
import { renderBase, renderServicePort, type BaseRules, type ServiceRules } from './render.ts';
import { renderAllServices, renderContext } from './ruleset.ts';
import { planFull, planPartial, programmedOf, type ProgrammedService } from './restore-plan.ts';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '../../lib/log.ts';
import { detectFeatures, type IptablesFeatures } from './features.ts';

/** ServicePorts changed at once beyond which a sync goes the full (batched) way. */
const MAX_PARTIAL_CHANGES = 500;

/** Passes each ServicePort's rules on, recording what a later partial sync needs of them. */
function* recording(rendered: Iterable<[string, ServiceRules]>, into: Map<string, ProgrammedService>): Generator<ServiceRules> {
  for (const [key, r] of rendered) {
    into.set(key, programmedOf(r));
    yield r;
  }
}

/** Lines of a restore input, counted without splitting megabytes of text into strings. */
function lineCount(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

interface Programmed {
  base: BaseRules;
  largeCluster: boolean;
  services: Map<string, ProgrammedService>;
}

export interface IptablesProxierOptions {
  family: IPFamily;
  tables?: IptablesTables;
  /** Says once what the node lacks (--random-fully, nfacct). */
  log?: Logger;
}

export class IptablesProxier implements ProxyBackend {
  readonly mode = 'iptables' as const;
  readonly family: IPFamily;
  private readonly tables: IptablesTables;
  /** What the last successful sync left in the kernel; undefined forces a full sync. */
  private programmed: Programmed | undefined;
  private readonly log: Logger | undefined;
  /** Detected on the first sync: the node's iptables and kernel do not change under a running proxier. */
  private features: IptablesFeatures | undefined;

  constructor(opts: IptablesProxierOptions) {
    this.family = opts.family;
    this.tables = opts.tables ?? iptablesTables(opts.family);
    this.log = opts.log;
  }

  async sync(req: SyncRequest): Promise<SyncResult> {
    const { snapshot, config } = req;
    this.features ??= await detectFeatures(this.tables, this.log?.child({ family: this.family }));
    const base = renderBase(config, this.features);
    const ctx = renderContext(snapshot, config, this.features);
    const prev = this.programmed;
    // A change touching very many ServicePorts goes the full, batched way: one partial
    // restore creating thousands of chains would hit iptables-nft's quadratic cost.
    const full =
      req.changed === undefined || req.changed.size > MAX_PARTIAL_CHANGES || !prev || prev.largeCluster !== ctx.largeCluster || !isDeepStrictEqual(prev.base, base);
    // Forget the record first: if the restore fails, the next sync must be full.
    this.programmed = undefined;
    const render = (key: string) => {
      const sp = snapshot.services.get(key);
      return sp && renderServicePort(sp, snapshot.endpoints.get(key) ?? [], ctx);
    };

    let services: Map<string, ProgrammedService>;
    let restores: Iterable<string>;
    if (full) {
      // As upstream: NodePorts on 127.0.0.1 need route_localnet; KUBE-FIREWALL closes
      // the hole it opens (kubernetes issue 90259).
      if (this.family === 4 && config.localhostNodePorts && base.natServicesTail.some((r) => r.includes('--dst-type LOCAL') || r.includes('-d 127.'))) {
        await this.tables.allowLocalhostNodePorts();
      }
      // Rendered as the restores are planned and applied: only what a partial sync
      // needs later (programmedOf) outlives its restore.
      const programmed = new Map<string, ProgrammedService>();
      services = programmed;
      restores = planFull(base, recording(renderAllServices(snapshot, ctx), programmed), await this.tables.view());
    } else {
      services = prev.services;
      const rendered = new Map<string, ServiceRules>();
      const changed = [...(req.changed ?? [])].sort();
      for (const key of changed) {
        const cur = render(key);
        if (cur) rendered.set(key, cur);
      }
      const text = planPartial(services, rendered, changed);
      for (const key of changed) {
        const cur = rendered.get(key);
        if (cur) services.set(key, programmedOf(cur));
        else services.delete(key);
      }
      restores = [text];
    }
    let operations = 0;
    for (const text of restores) {
      await this.tables.restore(text);
      operations += lineCount(text);
    }
    this.programmed = { base, largeCluster: ctx.largeCluster, services };
    return { full, operations };
  }

  async cleanup(): Promise<void> {
    this.programmed = undefined;
    const [filter, nat] = await Promise.all([this.tables.save('filter'), this.tables.save('nat')]);
    await this.tables.restore(planCleanup(filter, nat));
  }
}
