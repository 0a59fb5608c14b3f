// Loads a heavy command (see heavy-commands.ts): from source, an ordinary import; in
// the single executable, from the embedded kpr-heavy.cjs asset that the build makes.
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { getAsset, isSea } from 'node:sea';
import { constants, runInThisContext } from 'node:vm';
import type { Subcommand } from './kpr.ts';

type HeavyModule = typeof import('./heavy-commands.ts');

function fromAsset(): HeavyModule {
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
