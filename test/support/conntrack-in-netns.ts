// Stale UDP cleanup inside another network namespace. A netlink socket talks to the
// conntrack table of the namespace it was opened in, and Node cannot setns, so tests
// and benchmarks (which run in the host namespace and must not touch its table) run
// the cleanup in a child started with `ip netns exec NS` (conntrack-in-netns-main.ts,
// from source): it reads the request as JSON on stdin and prints the report as JSON.
// The daemon already runs inside the node's namespace and cleans in-process.
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import { KprError } from '../../lib/errors.ts';
import { run } from '../../lib/exec.ts';
import { createLogger } from '../../lib/log.ts';
import { runCleanup, type CleanupReport } from '../../proxy/conntrack/cleanup.ts';
import type { CleanupRequest } from '../../proxy/conntrack/stale.ts';

const ips = z.array(z.string());
const RequestJSON = z.object({
  family: z.union([z.literal(4), z.literal(6)]),
  byAddress: z.array(z.tuple([z.string(), ips])),
  byNodePort: z.array(z.tuple([z.number().int(), ips])),
  localAddresses: ips,
});
const ReportJSON = z.object({
  via: z.enum(['netlink', 'conntrack-tool']),
  scanned: z.number(),
  stale: z.number(),
  deleted: z.number(),
  dumpMs: z.number(),
  deleteMs: z.number(),
});

export function requestToJSON(req: CleanupRequest): z.infer<typeof RequestJSON> {
  return {
    family: req.family,
    byAddress: [...req.destinations.byAddress].map(([k, v]) => [k, [...v]]),
    byNodePort: [...req.destinations.byNodePort].map(([k, v]) => [k, [...v]]),
    localAddresses: [...req.localAddresses],
  };
}

export function requestFromJSON(j: z.infer<typeof RequestJSON>): CleanupRequest {
  return {
    family: j.family,
    destinations: { byAddress: new Map(j.byAddress.map(([k, v]) => [k, new Set(v)])), byNodePort: new Map(j.byNodePort.map(([k, v]) => [k, new Set(v)])) },
    localAddresses: new Set(j.localAddresses),
  };
}

const CHILD = fileURLToPath(new URL('./conntrack-in-netns-main.ts', import.meta.url));

export async function cleanupInNamespace(netns: string, req: CleanupRequest): Promise<CleanupReport> {
  const r = await run('ip', ['netns', 'exec', netns, process.execPath, CHILD], { input: JSON.stringify(requestToJSON(req)), allowFailure: true });
  if (r.stderr) process.stderr.write(r.stderr);
  if (r.exitCode !== 0) throw new KprError('CONNTRACK', `conntrack cleanup exited ${r.exitCode}: ${r.stderr.trim()}`, { object: `netns ${netns}` });
  return ReportJSON.parse(JSON.parse(r.stdout));
}

/** The child: one cleanup in this namespace, request on stdin, report on stdout. */
export async function main(): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const req = requestFromJSON(RequestJSON.parse(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
  const report = await runCleanup(req, createLogger('conntrack-cleanup'));
  process.stdout.write(`${JSON.stringify(report)}\n`);
  return 0;
}
