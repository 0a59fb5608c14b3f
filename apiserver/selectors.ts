// Label and field selectors in the syntax the Kubernetes API accepts in
// ?labelSelector= and ?fieldSelector=. Parsing is strict (a bad selector is a
// 400 from the real server too); matching is a pure function over labels or fields.
import { ApiServerError } from './errors.ts';

export type LabelOperator = 'exists' | 'notexists' | 'eq' | 'neq' | 'in' | 'notin' | 'gt' | 'lt';

export interface LabelRequirement {
  key: string;
  op: LabelOperator;
  values: string[];
}

/** All requirements must hold (comma is AND); the empty selector matches everything. */
export type LabelSelector = LabelRequirement[];

export interface FieldRequirement {
  field: string;
  op: 'eq' | 'neq';
  value: string;
}

export type FieldSelector = FieldRequirement[];

function badSelector(kind: string, text: string, why: string): ApiServerError {
  return new ApiServerError('BadSelector', `invalid ${kind} selector "${text}": ${why}`);
}

// A label name segment: 63 chars max, alphanumeric at both ends, - _ . inside.
const NAME_RE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const PREFIX_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function validKey(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash < 0) return NAME_RE.test(key);
  const prefix = key.slice(0, slash);
  return prefix.length <= 253 && PREFIX_RE.test(prefix) && NAME_RE.test(key.slice(slash + 1));
}

function validValue(value: string): boolean {
  return value === '' || NAME_RE.test(value);
}

/** Splits on commas that are not inside a parenthesised value set. */
function splitTopLevel(text: string, kind: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    if (depth < 0 || depth > 1) throw badSelector(kind, text, 'unbalanced parentheses');
    if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) throw badSelector(kind, text, 'unbalanced parentheses');
  parts.push(text.slice(start));
  return parts;
}

function parseSet(raw: string, text: string): string[] {
  const m = /^\((.*)\)$/s.exec(raw.trim());
  if (!m) throw badSelector('label', text, `expected a parenthesised value set, got "${raw.trim()}"`);
  const values = (m[1] ?? '').split(',').map((v) => v.trim());
  if (values.length === 1 && values[0] === '') throw badSelector('label', text, 'empty value set');
  for (const v of values) {
    if (!validValue(v)) throw badSelector('label', text, `invalid value "${v}"`);
  }
  return values;
}

function parseRequirement(part: string, text: string): LabelRequirement {
  const p = part.trim();
  if (p === '') throw badSelector('label', text, 'empty requirement');
  const setMatch = /^(\S+)\s+(in|notin)\s*(\(.*\))$/s.exec(p);
  let req: LabelRequirement;
  if (setMatch) {
    req = { key: setMatch[1] ?? '', op: setMatch[2] === 'in' ? 'in' : 'notin', values: parseSet(setMatch[3] ?? '', text) };
  } else if (p.startsWith('!')) {
    req = { key: p.slice(1).trim(), op: 'notexists', values: [] };
  } else {
    const opMatch = /^([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(.*)$/s.exec(p);
    if (opMatch) {
      const op = opMatch[2];
      const value = (opMatch[3] ?? '').trim();
      req = {
        key: opMatch[1] ?? '',
        op: op === '!=' ? 'neq' : op === '>' ? 'gt' : op === '<' ? 'lt' : 'eq',
        values: [value],
      };
      if (req.op === 'gt' || req.op === 'lt') {
        if (!/^-?\d+$/.test(value)) throw badSelector('label', text, `"${value}" is not an integer`);
      } else if (!validValue(value)) {
        throw badSelector('label', text, `invalid value "${value}"`);
      }
    } else {
      req = { key: p, op: 'exists', values: [] };
    }
  }
  if (!validKey(req.key)) throw badSelector('label', text, `invalid key "${req.key}"`);
  return req;
}

/** Parses a label selector such as `app=web,tier!=db,!legacy,env in (a,b)`. */
export function parseLabelSelector(text: string | undefined): LabelSelector {
  if (text === undefined || text.trim() === '') return [];
  return splitTopLevel(text, 'label').map((part) => parseRequirement(part, text));
}

export function matchesLabels(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  for (const req of selector) {
    const has = labels !== undefined && Object.hasOwn(labels, req.key);
    const value = has ? labels[req.key] : undefined;
    switch (req.op) {
      case 'exists': if (!has) return false; break;
      case 'notexists': if (has) return false; break;
      case 'eq': if (value !== req.values[0]) return false; break;
      case 'neq': if (value === req.values[0]) return false; break;
      case 'in': if (value === undefined || !req.values.includes(value)) return false; break;
      case 'notin': if (value !== undefined && req.values.includes(value)) return false; break;
      case 'gt':
      case 'lt': {
        if (value === undefined || !/^-?\d+$/.test(value)) return false;
        const diff = Number(value) - Number(req.values[0]);
        if (req.op === 'gt' ? diff <= 0 : diff >= 0) return false;
        break;
      }
    }
  }
  return true;
}

/**
 * Parses a field selector such as `metadata.name=node-a,metadata.namespace!=kube-system`.
 * `supported` lists the field paths the resource allows; others are rejected, as the real server does.
 */
export function parseFieldSelector(text: string | undefined, supported: readonly string[]): FieldSelector {
  if (text === undefined || text.trim() === '') return [];
  return text.split(',').map((part) => {
    const m = /^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$/s.exec(part);
    if (!m) throw badSelector('field', text, `cannot parse "${part}"`);
    const field = m[1] ?? '';
    if (!supported.includes(field)) throw badSelector('field', text, `field label not supported: ${field}`);
    return { field, op: m[2] === '!=' ? 'neq' : 'eq', value: m[3] ?? '' };
  });
}

export function matchesFields(selector: FieldSelector, fields: Readonly<Record<string, string>>): boolean {
  for (const req of selector) {
    const equal = (fields[req.field] ?? '') === req.value;
    if (equal !== (req.op === 'eq')) return false;
  }
  return true;
}
