// The shell of `kpr inspect` and `kpr explain`: runs the listing commands of the
// kernel (iptables-save, nft -j, ipvsadm, ipset, conntrack) and reads the IPVS names
// files, for the pure core. A tool that cannot run is noted, not fatal: the core
// says what it did not find.
import { readFile } from 'node:fs/promises';
import { errorMessage } from '../../lib/errors.ts';
import { run, type KernelErrno } from '../../lib/exec.ts';
import type { IPFamily } from '../../lib/ip.ts';
import { namesFile, parseNames } from '../ipvs/names.ts';
import type { Listings } from './inspect.ts';
import type { Mode } from './model.ts';
import { parseConntrackList, type ConntrackConnection } from './stats.ts';

/** Runs a listing command; undefined (and a note in `problems`) when it cannot run or fails. */
async function list(cmd: string, args: string[], problems: string[], absent?: KernelErrno): Promise<string | undefined> {
  try {
    const r = await run(cmd, args, { allowFailure: true });
    if (r.exitCode === 0) return r.stdout;
    if (absent === undefined || r.errno !== absent) problems.push(`${cmd} ${args.join(' ')}: ${r.stderr.trim().split('\n')[0] ?? `exit ${r.exitCode}`}`);
  } catch (err) {
    problems.push(`${cmd}: ${errorMessage(err)}`);
  }
  return undefined;
}

/** The IPVS names file of a family; undefined when absent, a warning when unreadable. */
async function names(dir: string, family: IPFamily, problems: string[]): Promise<ReadonlyMap<string, string> | undefined> {
  const path = namesFile(dir, family);
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return parseNames(text, path);
  } catch (err) {
    problems.push(errorMessage(err));
    return undefined;
  }
}

export async function collect(mode: Mode | 'auto', families: readonly IPFamily[], stateDir: string): Promise<Listings> {
  const problems: string[] = [];
  const want = (m: Mode) => mode === 'auto' || mode === m;
  const l: Listings = { families: {}, problems };
  for (const f of families) {
    l.families[f] = {
      // The IPVS mode's masquerade rule lives in iptables too.
      ...(want('iptables') || want('ipvs') ? { iptablesSave: await list(f === 4 ? 'iptables-save' : 'ip6tables-save', [], problems) } : {}),
      ...(want('nftables') ? { nftJson: await list('nft', ['-j', 'list', 'table', f === 4 ? 'ip' : 'ip6', 'kpr'], problems, 'ENOENT') } : {}),
    };
  }
  if (want('ipvs')) {
    l.ipvsadm = await list('ipvsadm', ['-S', '-n'], problems);
    if (l.ipvsadm !== undefined) {
      l.ipset = await list('ipset', ['save'], problems);
      l.ipvsNames = {};
      for (const f of families) {
        const n = await names(stateDir, f, problems);
        if (n) l.ipvsNames[f] = n;
      }
    }
  }
  return l;
}

/** The connections of one family in the conntrack table; throws when `conntrack` cannot list them. */
export async function connections(family: IPFamily): Promise<ConntrackConnection[]> {
  const r = await run('conntrack', ['-L', '-f', family === 4 ? 'ipv4' : 'ipv6', '-o', 'id'], { allowFailure: true });
  if (r.exitCode !== 0) throw new Error(`conntrack -L: ${r.stderr.trim().split('\n')[0] ?? `exit ${r.exitCode}`}`);
  return parseConntrackList(r.stdout);
}

/** IPVS's own counters (`ipvsadm -L -n --stats --exact`). */
export async function ipvsCounters(): Promise<string> {
  return (await run('ipvsadm', ['-L', '-n', '--stats', '--exact'])).stdout;
}
