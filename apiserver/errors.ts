// The error codes of the embedded API server's own failures (its Status replies to
// clients are ApiError, status.ts).
import { errorGuard, KprError } from '../lib/errors.ts';

export type ApiServerErrorCode = 'BadListen' | 'ListenFailed' | 'BadObjects' | 'BadSelector';

export class ApiServerError extends KprError<ApiServerErrorCode> {}

export const isApiServerError = errorGuard<ApiServerErrorCode, ApiServerError>(ApiServerError);
