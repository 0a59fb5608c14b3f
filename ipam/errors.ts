// The error codes of kpr-ipam and kpr ipam: one union, so a caller branches on a known code
// with the guard below, never on an unchecked string.
import { errorGuard, KprError } from '../lib/errors.ts';

export type IpamErrorCode =
  | 'INVALID_ARGS'
  | 'INVALID_CONFIG'
  | 'IPAM_EXHAUSTED'
  | 'IPAM_NOT_READY'
  | 'IPAM_REQUESTED_IP'
  | 'IPAM_STATE'
  | 'NOT_FOUND'
  | 'UNEXPECTED';

export class IpamError extends KprError<IpamErrorCode> {}

export const isIpamError = errorGuard<IpamErrorCode, IpamError>(IpamError);
