// The built bundles' source stays in V8 for the life of the process: one non-Latin-1
// character anywhere makes it a two-byte string, twice the memory (scripts/build.mjs
// builds ASCII only). Needs `npm run build`.
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
});
