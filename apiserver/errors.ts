// The error codes of the embedded API server's own failures (its Status replies to
// clients are ApiError, status.ts).
import { KprError } from '../lib/errors.ts';

export type ApiServerErrorCode = 'BadListen' | 'ListenFailed' | 'BadObjects' | 'BadSelector';

export class ApiServerError extends KprError<ApiServerErrorCode> {}

export function isApiServerError(err: unknown, code?: ApiServerErrorCode): err is ApiServerError {
  return err instanceof ApiServerError && (code === undefined || err.code === code);
}
