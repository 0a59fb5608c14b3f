// The agent's writes to the API server: only its own Node's kpr.io annotations, with a
// JSON merge patch (RBAC: patch on nodes; no get, no update, no strategic merge).
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { AnnotationPatcher } from './reconcile.ts';

export function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromCluster();
  return kc;
}

/** Sets (string) or removes (null) annotations on Node `name`, leaving every other annotation alone. */
export function nodePatcher(kc: KubeConfig, name: string): AnnotationPatcher {
  const core = kc.makeApiClient(CoreV1Api);
  return async (annotations) => {
    await core.patchNode({ name, body: { metadata: { annotations } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  };
}
