// The error codes of the Kubernetes client side of lib/ (kubeconfig, informer, object files).
import { errorGuard, KprError } from '../errors.ts';

export type KubeErrorCode =
  /** A configuration that can never work (kubeconfig, server URL, certificates). */
  | 'INVALID_CONFIG'
  /** The API server answered something that is not a valid reply. */
  | 'API_ERROR'
  /** Object files (kpr render, kpr apiserver) that are not Kubernetes objects. */
  | 'BAD_OBJECTS';

export class KubeError extends KprError<KubeErrorCode> {}

export const isKubeError = errorGuard<KubeErrorCode, KubeError>(KubeError);
