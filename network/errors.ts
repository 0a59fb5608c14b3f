// The error codes of kpr network: one union, so a caller branches on a known code
// with the guard below, never on an unchecked string.
import { errorGuard, KprError } from '../lib/errors.ts';

export type NetworkErrorCode =
  | 'INVALID_CONFIG'
  | 'KERNEL_STATE'
  | 'MISSING_TOOL'
  | 'NO_UNDERLAY';

export class NetworkError extends KprError<NetworkErrorCode> {}

export const isNetworkError = errorGuard<NetworkErrorCode, NetworkError>(NetworkError);
