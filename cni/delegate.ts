// Delegation to another CNI plugin (an IPAM plugin such as host-local), exactly as
// the spec says: find the binary in CNI_PATH, run it with the same environment and
// the complete config on stdin, forward its stderr, take its error object as ours.
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { CniCode, CniError } from './errors.ts';
import type { Env } from './skel.ts';

export interface DelegateCall {
  type: string;
  command: 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC';
  env: Env;
  cniPath: readonly string[];
  stdin: string;
}

export function findPlugin(type: string, cniPath: readonly string[]): string {
  for (const dir of cniPath) {
    const path = join(dir, type);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch { /* not in this directory */ }
  }
  throw new CniError(CniCode.invalidEnvironment, `failed to find plugin "${type}" in path [${cniPath.join(' ')}]`, 'set CNI_PATH to the directories holding the plugin');
}

/** Runs the delegate; resolves to its stdout, or throws its error object as a CniError. */
export function execDelegate(call: DelegateCall): string {
  const path = findPlugin(call.type, call.cniPath);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(call.env)) if (v !== undefined) env[k] = v;
  env.CNI_COMMAND = call.command;
  // Loaded here only: kpr-ipam runs in-process and needs no node:child_process (~2 ms a call).
  const { spawnSync } = process.getBuiltinModule('node:child_process');
  const r = spawnSync(path, [], { env, input: call.stdin, encoding: 'utf8', stdio: ['pipe', 'pipe', 'inherit'] });
  if (r.error) throw new CniError(CniCode.ioFailure, `cannot run ${path}`, r.error.message);
  if (r.status === 0) return r.stdout;
  let err: { code?: unknown; msg?: unknown; details?: unknown } | undefined;
  try { err = JSON.parse(r.stdout) as typeof err; } catch { /* not an error object */ }
  const code = typeof err?.code === 'number' ? err.code : CniCode.internal;
  const msg = typeof err?.msg === 'string' ? err.msg : `exited ${r.status ?? r.signal}`;
  const details = typeof err?.details === 'string' ? err.details : undefined;
  throw new CniError(code, `${call.type} ${call.command}: ${msg}`, details);
}
