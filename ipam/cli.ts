// kpr ipam: list, show and release pod IP allocations in host-local-format stores,
// under the same lock the plugins take.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { networkNameProblem } from '../lib/cni-names.ts';
import { KprError } from '../lib/errors.ts';
import { normalizeIP } from '../lib/ip.ts';
import { DEFAULT_DATA_DIR } from './config.ts';
import { DiskStore } from './disk-store.ts';
import { allocationRows, formatTable, stateText, type AllocationRow } from './listing.ts';
import { withLock } from '../lib/lock.ts';
import { readState } from './state.ts';
import { IpamError } from './errors.ts';

const USAGE = `usage:
  kpr ipam list [--data-dir DIR] [--network NAME]
  kpr ipam show IP [--data-dir DIR] [--network NAME]
  kpr ipam release IP|CONTAINER-ID --yes [--data-dir DIR] [--network NAME]

Reads host-local-format stores (<data-dir>/<network>/, default data dir ${DEFAULT_DATA_DIR}).
release frees at once, without a sticky wait; without --yes it only says what it would release.
`;

interface Scope {
  dataDir: string;
  network: string | undefined;
}

function networks(scope: Scope): string[] {
  if (scope.network !== undefined) {
    // A path segment, never a path: the same check as the plugin's network name.
    const problem = networkNameProblem(scope.network);
    if (problem) throw new IpamError('INVALID_ARGS', problem, { object: '--network' });
    if (!existsSync(join(scope.dataDir, scope.network))) throw new IpamError('NOT_FOUND', 'no such network directory', { object: join(scope.dataDir, scope.network) });
    return [scope.network];
  }
  if (!existsSync(scope.dataDir)) throw new IpamError('NOT_FOUND', 'no such data directory', { object: scope.dataDir });
  return readdirSync(scope.dataDir)
    .filter((n) => statSync(join(scope.dataDir, n)).isDirectory())
    .sort();
}

/** Runs fn on each network's store with its lock held. */
async function eachStore<T>(scope: Scope, fn: (store: DiskStore, network: string) => T): Promise<T[]> {
  const out: T[] = [];
  for (const network of networks(scope)) {
    const store = new DiskStore(scope.dataDir, network);
    out.push(await withLock(store.lockPath, () => fn(store, network)));
  }
  return out;
}

async function rowsOf(scope: Scope): Promise<{ rows: AllocationRow[]; problems: KprError[] }> {
  const parts = await eachStore(scope, (store, network) => {
    const state = readState(store);
    return { rows: allocationRows(network, state), problems: state.problems };
  });
  return { rows: parts.flatMap((p) => p.rows), problems: parts.flatMap((p) => p.problems) };
}

function reportProblems(problems: readonly KprError[]): number {
  for (const p of problems) process.stderr.write(`error: ${p.message}\n`);
  return problems.length > 0 ? 1 : 0;
}

async function list(scope: Scope): Promise<number> {
  const { rows, problems } = await rowsOf(scope);
  process.stdout.write(formatTable(rows));
  return reportProblems(problems);
}

async function show(scope: Scope, target: string): Promise<number> {
  const ip = normalizeIP(target);
  if (!ip) throw new IpamError('INVALID_ARGS', 'expected an IP address', { object: target });
  const found = (await rowsOf(scope)).rows.filter((r) => r.ip === ip);
  if (found.length === 0) {
    process.stderr.write(`${ip}: not allocated in ${scope.network ?? `any network under ${scope.dataDir}`}\n`);
    return 1;
  }
  for (const r of found) {
    const fields: [string, string][] = [
      ['network', r.network], ['ip', r.ip], ['state', stateText(r)], ['container', r.containerId || '-'],
      ['ifName', r.ifName || '-'], ['pod', r.pod || '-'], ['file', r.file],
    ];
    if (r.error) fields.push(['error', r.error]);
    process.stdout.write(fields.map(([k, v]) => `${`${k}:`.padEnd(11)}${v}\n`).join(''));
  }
  return found.some((r) => r.state === 'corrupt') ? 1 : 0;
}

/** An IP selects its file whatever it holds (corrupt included); a container ID selects every address it holds. */
function selects(target: string, row: AllocationRow): boolean {
  const ip = normalizeIP(target);
  return ip !== undefined ? row.ip === ip : row.state === 'allocated' && row.containerId === target;
}

async function release(scope: Scope, target: string, yes: boolean): Promise<number> {
  const released = await eachStore(scope, (store, network) => {
    const rows = allocationRows(network, readState(store)).filter((r) => selects(target, r));
    if (yes) {
      for (const r of rows) {
        store.remove(r.ip);
        store.removeSticky(r.ip);
      }
    }
    return rows;
  });
  const rows = released.flat();
  if (rows.length === 0) {
    process.stderr.write(`nothing to release for ${target}\n`);
    return 1;
  }
  if (!yes) {
    process.stdout.write(`would release:\n${formatTable(rows)}not released: add --yes to release ${rows.length === 1 ? 'it' : 'them'}\n`);
    return 1;
  }
  process.stdout.write(`released:\n${formatTable(rows)}`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'data-dir': { type: 'string', default: DEFAULT_DATA_DIR },
        network: { type: 'string' },
        yes: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    process.stderr.write(`kpr ipam: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [verb, target, ...extra] = positionals;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const scope: Scope = { dataDir: values['data-dir'], network: values.network };
  const arity = verb === 'list' ? 0 : 1;
  if (extra.length > 0 || (target === undefined) !== (arity === 0)) {
    process.stderr.write(USAGE);
    return 2;
  }
  switch (verb) {
    case 'list':
      return list(scope);
    case 'show':
      return show(scope, target!);
    case 'release':
      return release(scope, target!, values.yes);
    default:
      process.stderr.write(USAGE);
      return 2;
  }
}
