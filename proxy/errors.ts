// The error codes of the proxy (kpr proxy, render, inspect): one union, so a caller branches on a known code
// with the guard below, never on an unchecked string.
import { errorGuard, KprError } from '../lib/errors.ts';

export type ProxyErrorCode =
  | 'CONNTRACK'
  | 'INSPECT_NFT'
  | 'INSPECT_NOTHING'
  | 'INVALID_CONFIG'
  | 'INVALID_OBJECT'
  | 'IPVSADM_PARSE'
  | 'IPVSADM_RESTORE'
  | 'IPVS_CLEANUP'
  | 'IPVS_CONFIG'
  | 'IPVS_SYNC'
  | 'IP_LINK'
  | 'MISSING_TOOL'
  | 'NFT_APPLY'
  | 'NFT_CLEANUP'
  | 'NFT_LIST'
  | 'NFT_PLAN'
  | 'NO_IPVS';

export class ProxyError extends KprError<ProxyErrorCode> {}

export const isProxyError = errorGuard<ProxyErrorCode, ProxyError>(ProxyError);
