// Loads a heavy command (see heavy-commands.ts): from source, an ordinary import; in
// the single executable, from the embedded kpr-heavy.cjs asset that the build makes.
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { getAsset, isSea } from 'node:sea';
import { constants, runInNewContext, runInThisContext } from 'node:vm';
import type { Subcommand } from './kpr.ts';

type HeavyModule = typeof import('./heavy-commands.ts');

/**
 * The V8 flags of the heavy commands, set as they start rather than in the executable's
 * execArgv (scripts/build.mjs): a V8 flag there that enters V8's flag hash makes V8 reject
 * Node's own code cache of its built-in modules, so that each one a command loads compiles
 * from source (node:child_process: 7 ms instead of 2), and the CNI plugin, spawned per
 * pod, would pay that on every call. --liftoff-only: the one WebAssembly module kpr runs
 * is client-node's HTTP parser (undici's llhttp), and optimising it with TurboFan cost the
 * idle proxy ~8 MB of compiler pages and code for no change in the list or sync times
 * (bench/README.md); set before the bundle loads undici, with the two flags it implies
 * spelled out (V8 enforces implications only at start). --expose-gc lets the daemons give
 * a full sync's garbage back at once (lib/gc.ts); set after start, it exposes gc only to
 * contexts created later, so gc is taken from a new one. --heap-growing-percent=20: V8
 * lets the old generation grow up to 4x its live size between full collections, and an
 * iptables full sync at 10,000 Services grew the proxy to 307 MB that way; a 1.2x growth
 * peaked at 235 MB with the same sync time (bench/README.md).
 */
function setHeavyFlags(): void {
  const { setFlagsFromString } = process.getBuiltinModule('node:v8');
  setFlagsFromString('--liftoff-only --no-wasm-tier-up --no-wasm-dynamic-tiering');
  setFlagsFromString('--heap-growing-percent=20');
  setFlagsFromString('--expose-gc');
  (globalThis as { gc?: unknown }).gc ??= runInNewContext('gc');
}

function fromAsset(): HeavyModule {
  setHeavyFlags();
  const code = getAsset('kpr-heavy.cjs', 'utf8');
  const wrapper = runInThisContext(`(function (exports, require, module, __filename, __dirname) {${code}\n})`, {
    filename: 'kpr-heavy.cjs',
    // A dynamic import() of a built-in module inside the bundle resolves as in the main script.
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  }) as (
    ...args: unknown[]
  ) => void;
  const module = { exports: {} };
  wrapper(module.exports, createRequire(process.execPath), module, process.execPath, dirname(process.execPath));
  return module.exports as HeavyModule;
}

export async function heavyCommand(name: string): Promise<Subcommand> {
  const { heavyCommands } = isSea() ? fromAsset() : await import('./heavy-commands.ts');
  const load = heavyCommands[name];
  if (!load) throw new Error(`no command "${name}" in this build`);
  return load();
}
