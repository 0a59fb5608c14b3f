// Argument parsing shared by the small read-only commands (inspect, explain):
// `--flag value`, `--flag=value`, switches without value, and positional words,
// validated with a zod schema; an error names the flag.
import type * as z from 'zod';

export function parseCommandArgs<S extends z.ZodType>(
  argv: readonly string[],
  schema: S,
  flags: Record<string, string>,
  switches: Record<string, string> = {},
  positional?: string,
): z.infer<S> {
  const raw: Record<string, unknown> = {};
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const [flag = '', inline] = a.split(/=(.*)/s, 2);
    const sw = switches[flag];
    if (sw && inline === undefined) {
      raw[sw] = true;
      continue;
    }
    const key = flags[flag];
    if (!key) {
      if (positional && !a.startsWith('-')) {
        words.push(a);
        continue;
      }
      throw new Error(`unknown argument "${a}"`);
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    raw[key] = value;
  }
  if (positional) raw[positional] = words;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = String(issue?.path[0]);
    const flag = Object.keys(flags).find((f) => flags[f] === field) ?? Object.keys(switches).find((f) => switches[f] === field);
    if (!flag) throw new Error(issue?.message ?? 'invalid arguments');
    throw new Error(`invalid ${flag} "${String(raw[field])}"${issue?.message && !issue.message.startsWith('Invalid') ? `: ${issue.message}` : ''}`);
  }
  return parsed.data;
}
