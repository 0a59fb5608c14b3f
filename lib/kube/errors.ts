// The error codes of the Kubernetes client side of lib/ (kubeconfig, informer, object files).
import { KprError } from '../errors.ts';

export type KubeErrorCode =
  /** A configuration that can never work (kubeconfig, server URL, certificates). */
  | 'INVALID_CONFIG'
  /** The API server answered something that is not a valid reply. */
  | 'API_ERROR'
  /** Object files (kpr render, kpr apiserver) that are not Kubernetes objects. */
  | 'BAD_OBJECTS';

export class KubeError extends KprError<KubeErrorCode> {}

export function isKubeError(err: unknown, code?: KubeErrorCode): err is KubeError {
  return err instanceof KubeError && (code === undefined || err.code === code);
}
