// The resource types the embedded API server serves, with what discovery and the
// store need to know about each: where it lives, its kinds, scope and field selectors.

export interface ResourceType {
  /** '' for the core group. */
  group: string;
  version: string;
  /** `v1` or `group/version`, as in an object's apiVersion. */
  apiVersion: string;
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  /** Field paths accepted in ?fieldSelector=. */
  fields: readonly string[];
  /** Whether the real server bumps metadata.generation on changes outside metadata. */
  hasGeneration: boolean;
  /** Whether the type has a /status subresource (main writes keep status, status writes keep the rest). */
  hasStatus: boolean;
}

const NAMESPACED_FIELDS = ['metadata.name', 'metadata.namespace'] as const;
const CLUSTER_FIELDS = ['metadata.name'] as const;

export const RESOURCES: readonly ResourceType[] = [
  {
    group: '', version: 'v1', apiVersion: 'v1', plural: 'services', singular: 'service', kind: 'Service',
    listKind: 'ServiceList', namespaced: true, shortNames: ['svc'], fields: NAMESPACED_FIELDS,
    hasGeneration: false, hasStatus: true,
  },
  {
    group: '', version: 'v1', apiVersion: 'v1', plural: 'nodes', singular: 'node', kind: 'Node',
    listKind: 'NodeList', namespaced: false, shortNames: ['no'], fields: CLUSTER_FIELDS,
    hasGeneration: false, hasStatus: true,
  },
  {
    group: '', version: 'v1', apiVersion: 'v1', plural: 'namespaces', singular: 'namespace', kind: 'Namespace',
    listKind: 'NamespaceList', namespaced: false, shortNames: ['ns'], fields: CLUSTER_FIELDS,
    hasGeneration: false, hasStatus: true,
  },
  {
    group: 'discovery.k8s.io', version: 'v1', apiVersion: 'discovery.k8s.io/v1', plural: 'endpointslices',
    singular: 'endpointslice', kind: 'EndpointSlice', listKind: 'EndpointSliceList', namespaced: true,
    shortNames: [], fields: NAMESPACED_FIELDS, hasGeneration: true, hasStatus: false,
  },
  {
    // The service CIDRs of kube-apiserver's MultiCIDRServiceAllocator (Kubernetes 1.33+).
    group: 'networking.k8s.io', version: 'v1', apiVersion: 'networking.k8s.io/v1', plural: 'servicecidrs',
    singular: 'servicecidr', kind: 'ServiceCIDR', listKind: 'ServiceCIDRList', namespaced: false,
    shortNames: [], fields: CLUSTER_FIELDS, hasGeneration: true, hasStatus: true,
  },
  // The kinds of kpr's own manifests, stored as given, so that `kubectl apply` (and its
  // --dry-run=client) of manifests/kpr.yaml resolves every kind as against a real cluster.
  {
    group: '', version: 'v1', apiVersion: 'v1', plural: 'serviceaccounts', singular: 'serviceaccount', kind: 'ServiceAccount',
    listKind: 'ServiceAccountList', namespaced: true, shortNames: ['sa'], fields: NAMESPACED_FIELDS,
    hasGeneration: false, hasStatus: false,
  },
  {
    group: '', version: 'v1', apiVersion: 'v1', plural: 'configmaps', singular: 'configmap', kind: 'ConfigMap',
    listKind: 'ConfigMapList', namespaced: true, shortNames: ['cm'], fields: NAMESPACED_FIELDS,
    hasGeneration: false, hasStatus: false,
  },
  {
    group: 'rbac.authorization.k8s.io', version: 'v1', apiVersion: 'rbac.authorization.k8s.io/v1', plural: 'clusterroles',
    singular: 'clusterrole', kind: 'ClusterRole', listKind: 'ClusterRoleList', namespaced: false,
    shortNames: [], fields: CLUSTER_FIELDS, hasGeneration: false, hasStatus: false,
  },
  {
    group: 'rbac.authorization.k8s.io', version: 'v1', apiVersion: 'rbac.authorization.k8s.io/v1', plural: 'clusterrolebindings',
    singular: 'clusterrolebinding', kind: 'ClusterRoleBinding', listKind: 'ClusterRoleBindingList', namespaced: false,
    shortNames: [], fields: CLUSTER_FIELDS, hasGeneration: false, hasStatus: false,
  },
  {
    group: 'apps', version: 'v1', apiVersion: 'apps/v1', plural: 'daemonsets', singular: 'daemonset', kind: 'DaemonSet',
    listKind: 'DaemonSetList', namespaced: true, shortNames: ['ds'], fields: NAMESPACED_FIELDS,
    hasGeneration: true, hasStatus: true,
  },
];

/** The resource served at group/version/plural, if any. */
export function resourceByPath(group: string, version: string, plural: string): ResourceType | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

/** The resource an object belongs to, from its apiVersion and kind. */
export function resourceByKind(apiVersion: string, kind: string): ResourceType | undefined {
  return RESOURCES.find((r) => r.apiVersion === apiVersion && r.kind === kind);
}
