// Builds dist/bin/kpr: one self-contained executable (a Node single executable
// application) holding the esbuild bundle of bin/kpr.ts. CommonJS, because Node 24's
// SEA loader runs a CommonJS main.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, chmodSync, mkdirSync, writeFileSync, rmSync, linkSync } from 'node:fs';

const out = 'dist';
rmSync(out, { recursive: true, force: true });
mkdirSync(`${out}/bin`, { recursive: true });

await build({
  entryPoints: ['bin/kpr.ts'],
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  outfile: `${out}/kpr.cjs`,
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  // import.meta.url has no meaning in a CommonJS bundle; give dependencies that ask
  // for it the bundle's own URL.
  define: { 'import.meta.url': '__kpr_import_meta_url' },
  banner: { js: 'const __kpr_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  logLevel: 'warning',
});

writeFileSync(
  `${out}/sea-config.json`,
  JSON.stringify({ main: `${out}/kpr.cjs`, output: `${out}/kpr.blob`, disableExperimentalSEAWarning: true, useCodeCache: true }),
);
execFileSync(process.execPath, ['--experimental-sea-config', `${out}/sea-config.json`], { stdio: 'inherit' });
copyFileSync(process.execPath, `${out}/bin/kpr`);
execFileSync(
  process.execPath,
  [
    'node_modules/postject/dist/cli.js', `${out}/bin/kpr`, 'NODE_SEA_BLOB', `${out}/kpr.blob`,
    '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
  ],
  { stdio: 'ignore' },
);
chmodSync(`${out}/bin/kpr`, 0o755);
// The CNI runtime executes plugins by type name; the same binary answers as kpr-cni
// and as kpr-ipam.
linkSync(`${out}/bin/kpr`, `${out}/bin/kpr-cni`);
linkSync(`${out}/bin/kpr`, `${out}/bin/kpr-ipam`);
rmSync(`${out}/kpr.blob`);
console.error(`built ${out}/bin/kpr`);
