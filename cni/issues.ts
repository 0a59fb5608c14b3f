// Text for zod/mini validation issues (mini ships no messages; its locales cost startup time).
import type * as z from 'zod/mini';

/** zod/mini carries no messages (those live in its locales); say what was expected. */
export function describeIssue(issue: z.core.$ZodIssue, input?: unknown): string {
  switch (issue.code) {
    case 'invalid_type': return input !== undefined && valueAt(input, issue.path) === undefined ? 'missing' : `expected ${issue.expected}`;
    case 'invalid_value': return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small': return `expected at least ${String(issue.minimum)}`;
    case 'too_big': return `expected at most ${String(issue.maximum)}`;
    default: return issue.message;
  }
}

/** The value at a zod issue path (zod does not report the input by default). */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const k of path) v = typeof v === 'object' && v !== null ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}
