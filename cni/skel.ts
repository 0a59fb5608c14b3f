// The CNI dispatcher (what containernetworking's skel does for Go plugins): reads the
// CNI_* environment and the config on stdin, checks them, runs one verb and renders
// the result or the error object. Environment and stdin are injected values, so every
// verb is testable without spawning the plugin.
import { containerIdProblem, interfaceNameProblem, netnsPathProblem, networkNameProblem } from '../lib/cni-names.ts';
import { CniCode, CniError, errorObject, toCniError } from './errors.ts';
import { formatResult, type Result } from './result.ts';
import { CURRENT_VERSION, IMPLICIT_VERSION, MIN_VERSION_FOR, SUPPORTED_VERSIONS, atLeast } from './version.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export interface Request {
  command: 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC';
  /** Empty for STATUS and GC. */
  containerId: string;
  /** Empty when the runtime gave none (DEL, STATUS, GC). */
  netns: string;
  ifName: string;
  /** CNI_ARGS as key/value pairs. */
  cniArgs: Readonly<Record<string, string>>;
  /** CNI_PATH directories, in order. */
  cniPath: readonly string[];
  /** The parsed config object (not yet validated beyond cniVersion and name). */
  config: Readonly<Record<string, unknown>>;
  cniVersion: string;
  networkName: string;
  /** The config exactly as received, for delegated plugins. */
  stdin: string;
  env: Env;
}

export interface Plugin {
  add(req: Request): Promise<Result>;
  del(req: Request): Promise<void>;
  check(req: Request): Promise<void>;
  status(req: Request): Promise<void>;
  gc(req: Request): Promise<void>;
}

export interface Outcome {
  stdout: string;
  exitCode: number;
  /** The error behind a non-zero exit, for the log. */
  error?: CniError;
}

const VERBS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC'] as const;
type Verb = (typeof VERBS)[number];

const REQUIRED_ENV: Record<Verb, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  STATUS: [],
  GC: ['CNI_PATH'],
};

/** CNI_ARGS "K1=V1;K2=V2". */
export function parseCniArgs(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of raw.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CniError(CniCode.invalidEnvironment, 'invalid CNI_ARGS', `pair "${pair}" is not KEY=VALUE`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** The config's cniVersion if stdin is a config that has one (errors echo it). */
function versionOf(stdin: string): string | undefined {
  let asked: unknown;
  try { asked = (JSON.parse(stdin) as { cniVersion?: unknown } | null)?.cniVersion; } catch { /* empty or not JSON */ }
  return typeof asked === 'string' && asked !== '' ? asked : undefined;
}

function versionReply(stdin: string): string {
  const cniVersion = versionOf(stdin) ?? CURRENT_VERSION;
  return JSON.stringify({ cniVersion, supportedVersions: SUPPORTED_VERSIONS });
}

function checkEnv(verb: Verb, env: Env): void {
  const missing = REQUIRED_ENV[verb].filter((k) => !env[k]);
  if (missing.length > 0) throw new CniError(CniCode.invalidEnvironment, `required env variables [${missing.join(' ')}] missing`);
  const check = (key: string, problemOf: (v: string) => string | undefined) => {
    const value = env[key];
    const problem = REQUIRED_ENV[verb].includes(key) && value !== undefined ? problemOf(value) : undefined;
    if (problem) throw new CniError(CniCode.invalidEnvironment, `invalid ${key}: ${problem}`, value);
  };
  check('CNI_CONTAINERID', (id) => containerIdProblem(id, verb === 'ADD'));
  check('CNI_IFNAME', interfaceNameProblem);
  // Only where it is used (ADD, CHECK): DEL never fails over a netns.
  check('CNI_NETNS', netnsPathProblem);
}

function parseConfig(stdin: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CniCode.decodeFailure, 'cannot decode network config', (err as Error).message);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CniError(CniCode.decodeFailure, 'cannot decode network config', 'expected a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function configVersion(config: Record<string, unknown>, verb: Verb): string {
  const v = config.cniVersion ?? IMPLICIT_VERSION;
  if (typeof v !== 'string') throw new CniError(CniCode.invalidNetworkConfig, 'invalid network config: key "cniVersion": expected a string');
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(v)) {
    throw new CniError(CniCode.incompatibleVersion, 'incompatible CNI versions', `config is "${v}", plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`);
  }
  const min = MIN_VERSION_FOR[verb];
  if (min && !atLeast(v, min)) throw new CniError(CniCode.incompatibleVersion, `config version does not allow ${verb}`, `config is "${v}", ${verb} needs ${min} or later`);
  return v;
}

function networkName(config: Record<string, unknown>): string {
  const name = config.name;
  if (name === undefined || name === '') throw new CniError(CniCode.invalidNetworkConfig, 'missing network name');
  const problem = typeof name === 'string' ? networkNameProblem(name) : 'expected a string';
  if (problem || typeof name !== 'string') throw new CniError(CniCode.invalidNetworkConfig, 'invalid network name', problem);
  return name;
}

/** Runs one CNI invocation. Never throws: failures become the error object. */
export async function dispatch(io: { env: Env; stdin: () => string }, plugin: Plugin): Promise<Outcome> {
  const { env } = io;
  let cniVersion = CURRENT_VERSION;
  try {
    const command = env.CNI_COMMAND;
    if (!command) throw new CniError(CniCode.invalidEnvironment, 'required env variables [CNI_COMMAND] missing');
    const stdin = io.stdin();
    if (command === 'VERSION') return { stdout: versionReply(stdin), exitCode: 0 };
    if (!(VERBS as readonly string[]).includes(command)) throw new CniError(CniCode.invalidEnvironment, `unknown CNI_COMMAND: ${command}`);
    const verb = command as Verb;
    cniVersion = versionOf(stdin) ?? cniVersion;
    checkEnv(verb, env);
    const config = parseConfig(stdin);
    const req: Request = {
      command: verb,
      containerId: env.CNI_CONTAINERID ?? '',
      netns: env.CNI_NETNS ?? '',
      ifName: env.CNI_IFNAME ?? '',
      cniArgs: parseCniArgs(env.CNI_ARGS ?? ''),
      cniPath: (env.CNI_PATH ?? '').split(':').filter(Boolean),
      config,
      cniVersion: configVersion(config, verb),
      networkName: networkName(config),
      stdin,
      env,
    };
    switch (verb) {
      case 'ADD': return { stdout: JSON.stringify(formatResult(await plugin.add(req), req.cniVersion)), exitCode: 0 };
      case 'DEL': await plugin.del(req); break;
      case 'CHECK': await plugin.check(req); break;
      case 'STATUS': await plugin.status(req); break;
      case 'GC': await plugin.gc(req); break;
    }
    return { stdout: '', exitCode: 0 };
  } catch (err) {
    const error = toCniError(err);
    return { stdout: JSON.stringify(errorObject(error, cniVersion)), exitCode: 1, error };
  }
}
