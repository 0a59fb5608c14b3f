// The built bundles' source stays in V8 for the life of the process: one non-Latin-1
// character anywhere makes it a two-byte string, twice the memory (scripts/build.mjs
// builds ASCII only). Needs `npm run build`.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIST = join(resolve(import.meta.dirname, '..'), 'dist');

describe('the built bundles', () => {
  it.each(['kpr.cjs', 'kpr-heavy.cjs'])('%s is ASCII only', (name) => {
    const file = join(DIST, name);
    if (!existsSync(file)) throw new Error(`${file} is not built: run npm run build first`);
    const text = readFileSync(file, 'latin1');
    const offending = /[^\x00-\x7f]/.exec(text);
    expect(offending && text.slice(Math.max(0, offending.index - 60), offending.index + 20)).toBeNull();
  });

  // A V8 flag that changes V8's code cache tag makes V8 reject Node's code cache of its
  // built-in modules (and kpr.cjs's own): every built-in module the CNI plugin loads
  // would compile from source on every call (bin/heavy.ts sets such flags instead).
  it("runs with flags that keep Node's code cache valid", () => {
    const file = join(DIST, 'sea-config.json');
    if (!existsSync(file)) throw new Error(`${file} is not built: run npm run build first`);
    const { execArgv } = JSON.parse(readFileSync(file, 'utf8')) as { execArgv: string[] };
    const tag = (flags: string[]) => execFileSync(process.execPath, [...flags, '-p', 'require("node:v8").cachedDataVersionTag()'], { encoding: 'utf8', env: {} }).trim();
    expect(execArgv.length).toBeGreaterThan(0);
    expect(tag(execArgv)).toBe(tag([]));
  });

  // Loading node:child_process costs every CNI call ~2 ms; ADD and DEL spawn nothing where
  // the addons are installed, so the main bundle loads it only where it spawns.
  it('kpr.cjs loads node:child_process only on use', () => {
    const file = join(DIST, 'kpr.cjs');
    if (!existsSync(file)) throw new Error(`${file} is not built: run npm run build first`);
    const text = readFileSync(file, 'latin1');
    expect(text).toContain('getBuiltinModule("node:child_process")');
    expect(text.match(/(?<!getBuiltinModule)\((["'])(node:)?child_process\1\)/g)).toBeNull();
  });
});
