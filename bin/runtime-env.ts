// kpr runs as root (the proxy in a privileged pod, the CNI plugin under the container
// runtime), so whoever can set its environment must not be able to steer the Node.js
// runtime inside it: run code (NODE_OPTIONS=--require, NODE_PATH), trust other
// certificates (NODE_EXTRA_CA_CERTS, NODE_TLS_REJECT_UNAUTHORIZED, OpenSSL's files) or
// write files (NODE_V8_COVERAGE, NODE_REDIRECT_WARNINGS). The build makes the executable
// ignore NODE_OPTIONS and OPENSSL_CONF itself (scripts/build.mjs); the others are read at
// start-up, before any of kpr's code, so the executable replaces itself (execve: same
// pid, same arguments and file descriptors) with an environment without them. The
// daemons replace themselves for another reason: glibc reads its malloc settings only at
// start. One effect stays: NODE_COMPILE_CACHE makes the runtime create that directory before kpr's code runs
// (nothing is cached in it or read from it: the replaced image loads no module from disk).
import { writeSync } from 'node:fs';
import { isSea } from 'node:sea';

/**
 * The variables the Node.js runtime reads (its man page's ENVIRONMENT section, plus the
 * ones it sets for its own child processes) and OpenSSL's configuration files.
 */
export const RUNTIME_VARIABLES: readonly string[] = [
  'NODE_OPTIONS', 'NODE_PATH', 'NODE_REPL_EXTERNAL_MODULE', 'NODE_PRESERVE_SYMLINKS',
  'NODE_EXTRA_CA_CERTS', 'NODE_TLS_REJECT_UNAUTHORIZED', 'NODE_USE_SYSTEM_CA', 'NODE_USE_ENV_PROXY', 'NODE_ICU_DATA',
  'NODE_V8_COVERAGE', 'NODE_REDIRECT_WARNINGS', 'NODE_REPL_HISTORY',
  'NODE_COMPILE_CACHE', 'NODE_COMPILE_CACHE_PORTABLE', 'NODE_DISABLE_COMPILE_CACHE',
  'NODE_DEBUG', 'NODE_DEBUG_NATIVE', 'NODE_DISABLE_COLORS', 'NODE_NO_WARNINGS', 'NODE_PENDING_DEPRECATION',
  'NODE_PENDING_PIPE_INSTANCES', 'NODE_SKIP_PLATFORM_CHECK', 'NODE_TEST_CONTEXT',
  'NODE_CHANNEL_FD', 'NODE_CHANNEL_SERIALIZATION_MODE', 'NODE_UNIQUE_ID',
  'OPENSSL_CONF', 'OPENSSL_MODULES', 'OPENSSL_ENGINES', 'SSL_CERT_DIR', 'SSL_CERT_FILE',
];

/** Documented variables that are left alone: they change nothing but output colours, the time zone and libuv's thread count. */
export const HARMLESS_VARIABLES: readonly string[] = ['FORCE_COLOR', 'NO_COLOR', 'TZ', 'UV_THREADPOOL_SIZE'];

/**
 * glibc malloc settings for the daemons (`kpr proxy`, `kpr network`). By default glibc raises
 * its mmap and trim thresholds after the first large free, so the memory of the start-up
 * (the initial list) stays in its heap for good; fixed thresholds give freed memory back, and two arenas bound the per-thread ones (idle proxy:
 * 113 -> 97 MB RSS, bench/README.md). An operator's own GLIBC_TUNABLES is left alone.
 */
export const DAEMON_MALLOC_TUNABLES = 'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072';

/** The environment kpr must run with, or undefined when it already does: without RUNTIME_VARIABLES, and a daemon with its malloc settings. */
export function runtimeEnvironment(env: NodeJS.ProcessEnv, daemon: boolean): { env: NodeJS.ProcessEnv; removed: string[] } | undefined {
  const removed = RUNTIME_VARIABLES.filter((name) => env[name] !== undefined);
  const tune = daemon && env.GLIBC_TUNABLES === undefined;
  if (removed.length === 0 && !tune) return undefined;
  const next = { ...env };
  for (const name of removed) delete next[name];
  if (tune) next.GLIBC_TUNABLES = DAEMON_MALLOC_TUNABLES;
  return { env: next, removed };
}

/**
 * In the single executable: re-executes itself when its environment is not
 * runtimeEnvironment's (runtime variables set, or a daemon's malloc settings missing).
 * Returns otherwise.
 */
export function enterRuntime(daemon: boolean): void {
  // From source (node --import tsx) the developer's own runtime options apply.
  if (!isSea()) return;
  const wanted = runtimeEnvironment(process.env, daemon);
  if (!wanted) return;
  // Silently, as a Go binary ignores them: stderr is the CNI plugin's log and the proxy's
  // JSON log stream. This image started collecting coverage, and would write it out as it
  // is replaced. node:v8 is loaded only then: it costs every start ~2 ms.
  if (wanted.removed.includes('NODE_V8_COVERAGE')) process.getBuiltinModule('node:v8').stopCoverage();
  try {
    process.execve?.(process.execPath, [process.argv0, ...process.argv.slice(2)], wanted.env);
  } catch (err) {
    writeSync(2, `kpr: cannot restart in its own runtime environment${wanted.removed.length ? ` (without ${wanted.removed.join(', ')})` : ''}: ${(err as Error).message}\n`);
  }
  // Not replaced (execve failed or is missing): refuse rather than run under runtime
  // variables; without them, only the malloc settings are missing, and kpr runs.
  if (wanted.removed.length) process.exit(1);
}
