// API errors and the metav1.Status objects the real server answers failures with.
import { KprError } from '../lib/errors.ts';
import { isApiServerError } from './errors.ts';

export type StatusReason =
  | 'BadRequest' | 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Invalid' | 'Expired' | 'Gone'
  | 'MethodNotAllowed' | 'UnsupportedMediaType' | 'Timeout' | 'InternalError';

const CODES: Record<StatusReason, number> = {
  BadRequest: 400, NotFound: 404, MethodNotAllowed: 405, AlreadyExists: 409, Conflict: 409,
  Gone: 410, Expired: 410, UnsupportedMediaType: 415, Invalid: 422, Timeout: 504, InternalError: 500,
};

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: StatusReason;
  details?: StatusDetails;
  code: number;
}

/** A failure the API reports as a Status with an HTTP code (404, 409, 410, 422...). */
export class ApiError extends KprError {
  readonly reason: StatusReason;
  readonly httpCode: number;
  readonly details: StatusDetails | undefined;

  constructor(reason: StatusReason, message: string, opts: { object?: string; details?: StatusDetails; cause?: unknown } = {}) {
    super(reason, message, opts);
    this.name = 'ApiError';
    this.reason = reason;
    this.httpCode = CODES[reason];
    this.details = opts.details;
  }

  toStatus(): Status {
    const status: Status = {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: this.message, reason: this.reason, code: this.httpCode,
    };
    if (this.details) status.details = this.details;
    return status;
  }
}

/** The Status for anything thrown while serving a request: ApiErrors keep their code, the rest are 500s. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (isApiServerError(err, 'BadSelector')) return new ApiError('BadRequest', err.message, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError('InternalError', message, { cause: err });
}
