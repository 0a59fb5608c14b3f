// kpr-ipam: ipam/ as a standalone CNI IPAM plugin (dist/bin/kpr-ipam), so that other
// main plugins (the reference bridge, ptp, ...) can delegate to it. Its ADD answers
// with an abbreviated result: addresses, routes, DNS, no interfaces.
import * as z from 'zod/mini';
import { CniCode, CniError } from './errors.ts';
import { describeIssue } from './issues.ts';
import { finish, readStdin } from './main.ts';
import { dispatch, type Plugin, type Request } from './skel.ts';

const Section = z.looseObject({ ipam: z.looseObject({ type: z.string() }) });

async function ipamOf(req: Request) {
  const parsed = Section.safeParse(req.config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CniError(CniCode.invalidNetworkConfig, `invalid network config: key "${issue?.path.join('.') ?? ''}": ${issue ? describeIssue(issue, req.config) : 'invalid'}`);
  }
  const { ipamFor } = await import('./ipam.ts');
  // Whatever the section's type says, this process is the IPAM: serve it in-process.
  return ipamFor({ ...parsed.data.ipam, type: 'kpr-ipam' }, req);
}

const plugin: Plugin = {
  async add(req) {
    const alloc = await (await ipamOf(req)).add();
    return {
      cniVersion: req.cniVersion,
      interfaces: [],
      ips: alloc.addresses.map((a) => ({ ...a })),
      routes: alloc.routes,
      ...(alloc.dns ? { dns: alloc.dns } : {}),
    };
  },
  del: async (req) => (await ipamOf(req)).del(),
  check: async (req) => (await ipamOf(req)).check(),
  status: async (req) => (await ipamOf(req)).status(),
  gc: async (req) => {
    const { validAttachments } = await import('./gc.ts');
    return (await ipamOf(req)).gc(validAttachments(req.config));
  },
};

export async function main(_argv: string[]): Promise<number> {
  const env = process.env;
  return finish('kpr-ipam', env, await dispatch({ env, stdin: readStdin }, plugin));
}
