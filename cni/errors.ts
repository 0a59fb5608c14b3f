// CNI error objects: the spec's well-known codes plus kpr-cni's own (>= 100), and
// the mapping from errors thrown by lib/ and ipam/ (KprError codes) to them.
import { KprError, errorMessage } from '../lib/errors.ts';
import type { ExecErrorCode } from '../lib/exec.ts';
import type { LockErrorCode } from '../lib/lock.ts';
import type { IpamErrorCode } from '../ipam/index.ts';

export const CniCode = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidNetworkConfig: 7,
  /** Not in the spec table; libcni's ErrInvalidNetNS, kept for the same case. */
  invalidNetns: 8,
  tryAgainLater: 11,
  notAvailable: 50,
  limitedConnectivity: 51,
  /** An ip / nft / nsenter command failed. */
  kernel: 100,
  ipamExhausted: 101,
  ipamState: 102,
  /** A requested address is outside the ranges or taken. */
  ipamRequestedIP: 103,
  /** Anything else (a bug, or an error without a better code). */
  internal: 999,
} as const;

export class CniError extends Error {
  constructor(readonly code: number, msg: string, readonly details?: string, opts: { cause?: unknown } = {}) {
    super(msg, opts);
    this.name = 'CniError';
  }
}

/** The codes of what the plugin calls: IPAM, the lock, commands, and its own kernel steps. */
type KprCode = IpamErrorCode | LockErrorCode | ExecErrorCode | 'KERNEL';

const byKprCode: Partial<Record<KprCode, number>> = {
  INVALID_CONFIG: CniCode.invalidNetworkConfig,
  IPAM_EXHAUSTED: CniCode.ipamExhausted,
  IPAM_STATE: CniCode.ipamState,
  IPAM_REQUESTED_IP: CniCode.ipamRequestedIP,
  // A lock is busy, or the node agent has not written the pod CIDRs yet.
  LOCK_TIMEOUT: CniCode.tryAgainLater,
  IPAM_NOT_READY: CniCode.tryAgainLater,
  INVALID_ARGS: CniCode.invalidEnvironment,
  // The lock file cannot be opened or flock(1) cannot run.
  LOCK: CniCode.ioFailure,
  KERNEL: CniCode.kernel,
  EXEC_EXIT: CniCode.kernel,
  EXEC_SPAWN: CniCode.kernel,
};

/** Any thrown value as a CniError, keeping the code of errors that have one. */
export function toCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  if (err instanceof KprError) return new CniError(byKprCode[err.code as KprCode] ?? CniCode.internal, errorMessage(err), undefined, { cause: err });
  return new CniError(CniCode.internal, errorMessage(err), undefined, { cause: err });
}

/** The error object printed on stdout (spec §5 "Error"). */
export function errorObject(err: CniError, cniVersion: string): Record<string, unknown> {
  const out: Record<string, unknown> = { cniVersion, code: err.code, msg: err.message };
  if (err.details !== undefined) out.details = err.details;
  return out;
}
