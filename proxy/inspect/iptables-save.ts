// `iptables-save` / iptables-restore text as plain data: tables of chains of rules,
// each rule a list of options. The kernel prints matches in its own order (e.g. "-d"
// before "-m comment"), so rules are read by option name, never by position.
import { canonicalAddress } from './model.ts';

export interface RuleOption {
  /** The option as written, e.g. "-d", "--dport", "--comment". */
  name: string;
  /** Its arguments ("" for flags like --rcheck); quotes removed. */
  value: string;
  /** Preceded by "!". */
  negated: boolean;
}

export interface Rule {
  chain: string;
  options: RuleOption[];
}

/** Table name -> chain name -> rules in order (chains declared without rules map to []). */
export type Tables = Map<string, Map<string, Rule[]>>;

/** Splits a rule into words; "double quoted" words keep their spaces (\" escapes a quote). */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? ''));
  return out;
}

function parseRule(chain: string, rest: readonly string[]): Rule {
  const options: RuleOption[] = [];
  let negated = false;
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i] ?? '';
    if (w === '!') { negated = true; continue; }
    if (!w.startsWith('-')) continue; // stray word: part of a previous option's value list
    const args: string[] = [];
    while (i + 1 < rest.length && !(rest[i + 1] ?? '').startsWith('-') && rest[i + 1] !== '!') args.push(rest[++i] ?? '');
    options.push({ name: w, value: args.join(' '), negated });
    negated = false;
  }
  return { chain, options };
}

/** Parses iptables-save output (or restore input); several sections of one table merge. */
export function parseIptablesSave(text: string): Tables {
  const tables: Tables = new Map();
  let table: Map<string, Rule[]> | undefined;
  const chainOf = (name: string) => {
    if (!table) return undefined;
    if (!table.has(name)) table.set(name, []);
    return table.get(name);
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      const name = line.slice(1);
      if (!tables.has(name)) tables.set(name, new Map());
      table = tables.get(name);
    } else if (line.startsWith(':')) {
      chainOf(line.slice(1).split(' ')[0] ?? '');
    } else if (line.startsWith('-A ') || line.startsWith('-I ')) {
      const [verb, chain = '', ...rest] = words(line);
      // "-I CHAIN 1 ..." carries a position first.
      const spec = verb === '-I' && /^\d+$/.test(rest[0] ?? '') ? rest.slice(1) : rest;
      const rules = chainOf(chain);
      if (!rules) continue;
      if (verb === '-I') rules.unshift(parseRule(chain, spec));
      else rules.push(parseRule(chain, spec));
    }
  }
  return tables;
}

export function option(rule: Rule, ...names: string[]): RuleOption | undefined {
  return rule.options.find((o) => names.includes(o.name));
}

export function optionValue(rule: Rule, ...names: string[]): string | undefined {
  return option(rule, ...names)?.value;
}

/** The jump or goto target ("-j X" / "-g X"), if any. */
export function target(rule: Rule): string | undefined {
  return optionValue(rule, '-j', '--jump', '-g', '--goto');
}

export function comment(rule: Rule): string | undefined {
  return optionValue(rule, '--comment');
}

/** The destination address of a rule, canonical, or undefined. */
export function destination(rule: Rule): string | undefined {
  const d = option(rule, '-d', '--destination');
  return d && !d.negated ? canonicalAddress(d.value) : undefined;
}

/**
 * The conditions of a rule on the packet's source, as text (e.g. "src != 10.244.0.0/16",
 * "src-type local", "in cni0"); "" when the rule applies to every source.
 */
export function sourceCondition(rule: Rule): string {
  const parts: string[] = [];
  for (const o of rule.options) {
    const op = o.negated ? '!= ' : '';
    if (o.name === '-s' || o.name === '--source') parts.push(`src ${op}${canonicalAddress(o.value)}`);
    else if (o.name === '-i' || o.name === '--in-interface') parts.push(`in ${op}${o.value}`);
    else if (o.name === '--src-type') parts.push(`src-type ${op}${o.value.toLowerCase()}`);
  }
  return parts.join(', ');
}
