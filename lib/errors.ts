/**
 * An error with a stable code, the object it concerns, and its cause. Each module names
 * its codes in one union (e.g. ExecErrorCode) and offers a guard, so callers branch on
 * types rather than on strings.
 */
export class KprError<C extends string = string> extends Error {
  readonly code: C;
  readonly object: string | undefined;

  constructor(code: C, message: string, opts: { object?: string; cause?: unknown } = {}) {
    super(opts.object ? `${opts.object}: ${message}` : message, { cause: opts.cause });
    this.name = 'KprError';
    this.code = code;
    this.object = opts.object;
  }
}

/** The message of anything thrown, for logs and error replies. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return err.message + cause;
  }
  return String(err);
}

/**
 * The type guard of a module's error class: `isProxyError(err, 'NFT_APPLY')` is true for
 * that class (and code, when given) only.
 */
export function errorGuard<C extends string, E extends KprError<C>>(cls: abstract new (...args: never[]) => E) {
  return (err: unknown, code?: C): err is E => err instanceof cls && (code === undefined || err.code === code);
}
