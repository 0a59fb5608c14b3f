// A knftables-like transaction: plain objects (table, chain, rule, set, map, element)
// with the verbs of nft (add, create, flush, delete), rendered to `nft -f` text.
// One transaction is one atomic kernel batch: nft applies all of it or nothing.

export type NftFamily = 'ip' | 'ip6';

export interface BaseChainHook {
  type: 'filter' | 'nat';
  hook: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  priority: number;
}

export interface ChainSpec {
  name: string;
  /** Present for base chains (attached to a netfilter hook). */
  base?: BaseChainHook;
}

export interface SetSpec {
  name: string;
  kind: 'set' | 'map';
  /** What follows `type` (or `typeof`) in the declaration, e.g. "ipv4_addr . inet_proto . inet_service : verdict". */
  type: string;
  typeof?: boolean;
  flags?: readonly string[];
  /** Default element timeout in seconds (affinity sets). */
  timeoutSeconds?: number;
}

export interface Element {
  set: string;
  /** The key as nft writes it, e.g. "10.96.0.1 . tcp . 80". */
  key: string;
  /** For maps, the value, e.g. "goto service-cluster"; "" for sets. */
  value: string;
}

export type Operation =
  | { verb: 'add' | 'delete'; type: 'table' }
  | { verb: 'add' | 'flush' | 'delete'; type: 'chain'; chain: ChainSpec }
  | { verb: 'add'; type: 'rule'; chain: string; rule: string }
  | { verb: 'add' | 'delete'; type: 'set'; set: SetSpec }
  | { verb: 'add' | 'delete'; type: 'element'; element: Element };

/** Elements per rendered line: one line becomes one netlink message batch in nft. */
const ELEMENTS_PER_LINE = 1000;

function chainDecl(c: ChainSpec): string {
  if (!c.base) return c.name;
  return `${c.name} { type ${c.base.type} hook ${c.base.hook} priority ${c.base.priority} ; }`;
}

function setDecl(s: SetSpec): string {
  const parts = [`${s.typeof ? 'typeof' : 'type'} ${s.type} ;`];
  if (s.flags?.length) parts.push(`flags ${s.flags.join(',')} ;`);
  if (s.timeoutSeconds) parts.push(`timeout ${s.timeoutSeconds}s ;`);
  return `${s.name} { ${parts.join(' ')} }`;
}

function elementText(e: Element, withValue: boolean): string {
  return withValue && e.value !== '' ? `${e.key} : ${e.value}` : e.key;
}

export class Transaction {
  readonly operations: Operation[] = [];

  constructor(
    readonly family: NftFamily,
    readonly table: string,
  ) {}

  get size(): number {
    return this.operations.length;
  }

  add(op: Operation): this {
    this.operations.push(op);
    return this;
  }

  /** The `nft -f` text; consecutive element operations on one set share a line. */
  render(): string {
    const t = `${this.family} ${this.table}`;
    const lines: string[] = [];
    const ops = this.operations;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as Operation;
      switch (op.type) {
        case 'table':
          lines.push(`${op.verb} table ${t}`);
          break;
        case 'chain':
          lines.push(op.verb === 'add' ? `add chain ${t} ${chainDecl(op.chain)}` : `${op.verb} chain ${t} ${op.chain.name}`);
          break;
        case 'rule':
          lines.push(`add rule ${t} ${op.chain} ${op.rule}`);
          break;
        case 'set':
          lines.push(op.verb === 'add' ? `add ${op.set.kind} ${t} ${setDecl(op.set)}` : `delete ${op.set.kind} ${t} ${op.set.name}`);
          break;
        case 'element': {
          const batch = [op.element];
          while (batch.length < ELEMENTS_PER_LINE) {
            const next = ops[i + 1];
            if (next?.type !== 'element' || next.verb !== op.verb || next.element.set !== op.element.set) break;
            batch.push(next.element);
            i++;
          }
          const withValue = op.verb === 'add';
          lines.push(`${op.verb} element ${t} ${op.element.set} { ${batch.map((e) => elementText(e, withValue)).join(' , ')} }`);
          break;
        }
      }
    }
    return lines.length ? `${lines.join('\n')}\n` : '';
  }
}
