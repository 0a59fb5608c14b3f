// Reads a CNI result of any supported version (a prevResult, or a delegated IPAM
// plugin's answer) into the internal shape.
import * as z from 'zod/mini';
import { lazy } from '../lib/lazy.ts';
import { CniCode, CniError } from './errors.ts';
import { describeIssue } from './issues.ts';
import type { Result } from './result.ts';

const resultSchema = lazy(() => {
  const strings = z.optional(z.array(z.string()));
  return z.looseObject({
    cniVersion: z.optional(z.string()),
    interfaces: z.optional(z.array(z.looseObject({
      name: z.string(),
      mac: z.optional(z.string()),
      mtu: z.optional(z.number()),
      sandbox: z.optional(z.string()),
      socketPath: z.optional(z.string()),
      pciID: z.optional(z.string()),
    }))),
    ips: z.optional(z.array(z.looseObject({
      address: z.string(),
      gateway: z.optional(z.string()),
      interface: z.optional(z.number()),
    }))),
    routes: z.optional(z.array(z.looseObject({
      dst: z.string(),
      gw: z.optional(z.string()),
      mtu: z.optional(z.number()),
      advmss: z.optional(z.number()),
      priority: z.optional(z.number()),
      table: z.optional(z.number()),
      scope: z.optional(z.number()),
    }))),
    dns: z.optional(z.looseObject({ nameservers: strings, domain: z.optional(z.string()), search: strings, options: strings })),
  });
});

function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/**
 * Reads a result of version 0.3.0 or later (a prevResult, or a delegated IPAM
 * plugin's answer). `what` names it in errors.
 */
export function parseResult(raw: unknown, what: string): Result {
  const parsed = resultSchema().safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue?.path.join('.') ?? '';
    throw new CniError(CniCode.decodeFailure, `cannot decode ${what}`, `${at ? `key "${at}": ` : ''}${issue ? describeIssue(issue, raw) : 'invalid'}`);
  }
  const r = parsed.data;
  const result: Result = {
    cniVersion: r.cniVersion ?? '',
    interfaces: (r.interfaces ?? []).map((i) => pick(i, ['name', 'mac', 'mtu', 'sandbox', 'socketPath', 'pciID'] as const)),
    ips: (r.ips ?? []).map((i) => pick(i, ['address', 'gateway', 'interface'] as const)),
    routes: (r.routes ?? []).map((x) => pick(x, ['dst', 'gw', 'mtu', 'advmss', 'priority', 'table', 'scope'] as const)),
  };
  if (r.dns && Object.keys(r.dns).length > 0) result.dns = pick(r.dns, ['nameservers', 'domain', 'search', 'options'] as const);
  return result;
}

