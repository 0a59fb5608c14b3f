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

/**
 * Elements of one set, key -> value: key as nft writes it ("10.96.0.1 . tcp . 80"),
 * value "" for sets. A map value may start with the element's comment
 * (`comment "ns/svc:port" : goto x`), which nft takes right after the key. A Map is one; so is the desired table's view of a set.
 */
export interface ElementEntries {
  forEach(f: (value: string, key: string) => void): void;
}

export type Operation =
  | { verb: 'add' | 'delete'; type: 'table' }
  | { verb: 'add' | 'flush' | 'delete'; type: 'chain'; chain: ChainSpec }
  | { verb: 'add'; type: 'rule'; chain: string; rule: string }
  | { verb: 'add' | 'flush' | 'delete'; type: 'set'; set: SetSpec }
  // Many elements of one set in one operation (counted as `count` operations): a full
  // sync hands over the desired table's own maps, with no object per element.
  | { verb: 'add' | 'delete'; type: 'elements'; set: string; entries: ElementEntries; count: number };

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

export class Transaction {
  readonly operations: Operation[] = [];
  private count = 0;

  constructor(
    readonly family: NftFamily,
    readonly table: string,
  ) {}

  /** Number of operations, each element counted. */
  get size(): number {
    return this.count;
  }

  add(op: Operation): this {
    if (op.type === 'elements' && op.count === 0) return this;
    this.operations.push(op);
    this.count += op.type === 'elements' ? op.count : 1;
    return this;
  }

  /**
   * The `nft -f` text, one line per chunk, generated as it is consumed (so that nft
   * can parse the beginning while the rest is being written).
   */
  *chunks(): Generator<string> {
    const t = `${this.family} ${this.table}`;
    for (const op of this.operations) {
      switch (op.type) {
        case 'table':
          yield `${op.verb} table ${t}\n`;
          break;
        case 'chain':
          yield op.verb === 'add' ? `add chain ${t} ${chainDecl(op.chain)}\n` : `${op.verb} chain ${t} ${op.chain.name}\n`;
          break;
        case 'rule':
          yield `add rule ${t} ${op.chain} ${op.rule}\n`;
          break;
        case 'set':
          yield op.verb === 'add' ? `add ${op.set.kind} ${t} ${setDecl(op.set)}\n` : `${op.verb} ${op.set.kind} ${t} ${op.set.name}\n`;
          break;
        case 'elements':
          yield* elementLines(`${op.verb} element ${t} ${op.set} { `, op.entries, op.verb === 'add');
          break;
      }
    }
  }

  /** The whole `nft -f` text at once. */
  render(): string {
    return [...this.chunks()].join('');
  }
}

/** Element lines of at most ELEMENTS_PER_LINE elements: nft turns a line into one netlink batch. */
function elementLines(head: string, entries: ElementEntries, withValue: boolean): string[] {
  // Pieces joined once per line: far cheaper than strings grown by += or built per element.
  const lines: string[] = [];
  let parts: string[] = [head];
  let n = 0;
  entries.forEach((value, key) => {
    if (n > 0) parts.push(' , ');
    if (withValue && value !== '') parts.push(key, value.startsWith('comment ') ? ' ' : ' : ', value);
    else parts.push(key);
    if (++n === ELEMENTS_PER_LINE) {
      parts.push(' }\n');
      lines.push(parts.join(''));
      parts = [head];
      n = 0;
    }
  });
  if (n > 0) {
    parts.push(' }\n');
    lines.push(parts.join(''));
  }
  return lines;
}
