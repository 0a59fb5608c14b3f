// kpr runs as root (the proxy in a privileged pod, the CNI plugin under the container
// runtime), so whoever can set its environment must not be able to steer the Node.js
// runtime inside it: run code (NODE_OPTIONS=--require, NODE_PATH), trust other
// certificates (NODE_EXTRA_CA_CERTS, NODE_TLS_REJECT_UNAUTHORIZED, OpenSSL's files) or
// write files (NODE_V8_COVERAGE, NODE_REDIRECT_WARNINGS). The build makes the executable
// ignore NODE_OPTIONS and OPENSSL_CONF itself (scripts/build.mjs); the others are read at
// start-up, before any of kpr's code, so the executable replaces itself (execve: same
// pid, same arguments and file descriptors) with an environment without them. One effect
// stays: NODE_COMPILE_CACHE makes the runtime create that directory before kpr's code runs
// (nothing is cached in it or read from it: the replaced image loads no module from disk).
import { writeSync } from 'node:fs';
import { isSea } from 'node:sea';
import { stopCoverage } from 'node:v8';

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

/** In the single executable: re-executes itself without RUNTIME_VARIABLES when any is set. Returns otherwise. */
export function ignoreRuntimeVariables(): void {
  // From source (node --import tsx) the developer's own runtime options apply.
  if (!isSea()) return;
  const found = RUNTIME_VARIABLES.filter((name) => process.env[name] !== undefined);
  if (found.length === 0) return;
  const env = { ...process.env };
  for (const name of found) delete env[name];
  // Silently, as a Go binary ignores them: stderr is the CNI plugin's log and the proxy's
  // JSON log stream. This image started collecting coverage, and would write it out as it
  // is replaced.
  if (found.includes('NODE_V8_COVERAGE')) stopCoverage();
  try {
    process.execve?.(process.execPath, [process.argv0, ...process.argv.slice(2)], env);
  } catch (err) {
    writeSync(2, `kpr: cannot restart without the Node.js runtime variables ${found.join(', ')}: ${(err as Error).message}\n`);
  }
  // Not replaced (execve failed or is missing): refuse rather than run under them.
  process.exit(1);
}
