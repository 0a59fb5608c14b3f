// The error codes of kpr-ipam and kpr ipam: one union, so a caller branches on a known code
// with the guard below, never on an unchecked string.
import { KprError } from '../lib/errors.ts';

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

export function isIpamError(err: unknown, code?: IpamErrorCode): err is IpamError {
  return err instanceof IpamError && (code === undefined || err.code === code);
}
