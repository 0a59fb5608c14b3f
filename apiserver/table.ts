// meta.k8s.io/v1 Table replies, which `kubectl get` asks for (Accept: ...;as=Table;g=meta.k8s.io;v=v1)
// so that it prints the server's columns: kube-apiserver's columns for the served kinds.
import type { ResourceType } from './resources.ts';
import type { KubeObject } from './store.ts';

type Obj = Record<string, unknown>;
const rec = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown, none = '<none>') => (typeof v === 'string' && v !== '' ? v : none);

/** Whether the Accept header asks for a meta.k8s.io/v1 Table. */
export function wantsTable(accept: string | undefined): boolean {
  return (accept ?? '').split(',').some((part) => {
    const params = part.split(';').map((p) => p.trim());
    return params.includes('as=Table') && params.includes('g=meta.k8s.io') && params.includes('v=v1');
  });
}

/** kube's short ages: 45s, 5m10s, 3h, 2d. */
export function age(created: unknown, now: number): string {
  const t = typeof created === 'string' ? Date.parse(created) : NaN;
  if (Number.isNaN(t)) return '<unknown>';
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
  if (s < 3 * 3600) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

interface Column { name: string; type: 'string' | 'integer'; priority?: number; cell: (o: Obj) => string | number }

const servicePorts = (o: Obj) => list(rec(o.spec).ports).map((p) => {
  const x = rec(p);
  return `${String(x.port)}${x.nodePort ? `:${String(x.nodePort)}` : ''}/${str(x.protocol, 'TCP')}`;
}).join(',') || '<none>';

const COLUMNS: Record<string, Column[]> = {
  Service: [
    { name: 'Type', type: 'string', cell: (o) => str(rec(o.spec).type, 'ClusterIP') },
    { name: 'Cluster-IP', type: 'string', cell: (o) => str(rec(o.spec).clusterIP) },
    {
      name: 'External-IP', type: 'string',
      cell: (o) => [...list(rec(o.spec).externalIPs), ...list(rec(rec(o.status).loadBalancer).ingress).map((i) => rec(i).ip)].filter((x) => typeof x === 'string').join(',') || '<none>',
    },
    { name: 'Port(s)', type: 'string', cell: servicePorts },
  ],
  Node: [
    {
      name: 'Status', type: 'string',
      cell: (o) => {
        const ready = list(rec(o.status).conditions).map(rec).find((c) => c.type === 'Ready');
        return (ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown') + (rec(o.spec).unschedulable ? ',SchedulingDisabled' : '');
      },
    },
    { name: 'Pod-CIDRs', type: 'string', priority: 1, cell: (o) => list(rec(o.spec).podCIDRs).join(',') || str(rec(o.spec).podCIDR) },
    { name: 'Internal-IP', type: 'string', priority: 1, cell: (o) => list(rec(o.status).addresses).map(rec).filter((a) => a.type === 'InternalIP').map((a) => a.address).join(',') || '<none>' },
  ],
  EndpointSlice: [
    { name: 'AddressType', type: 'string', cell: (o) => str(o.addressType) },
    { name: 'Ports', type: 'string', cell: (o) => list(o.ports).map((p) => String(rec(p).port)).join(',') || '<unset>' },
    { name: 'Endpoints', type: 'string', cell: (o) => list(o.endpoints).flatMap((e) => list(rec(e).addresses)).join(',') || '<unset>' },
  ],
  Namespace: [{ name: 'Status', type: 'string', cell: (o) => str(rec(o.status).phase, 'Active') }],
  ServiceCIDR: [{ name: 'CIDRs', type: 'string', cell: (o) => list(rec(o.spec).cidrs).join(',') || '<none>' }],
};

/**
 * The Table of `objects`, each row carrying the object as `includeObject` asks: `Object`
 * (whole), `None`, or by default its metadata only (PartialObjectMetadata).
 */
export function table(resource: ResourceType, objects: readonly KubeObject[], meta: Obj, includeObject: string | null, now = Date.now()): object {
  const columns = COLUMNS[resource.kind] ?? [];
  const all: Column[] = [
    { name: 'Name', type: 'string', cell: (o) => str(rec(o.metadata).name) },
    ...columns.filter((c) => !c.priority),
    { name: 'Age', type: 'string', cell: (o) => age(rec(o.metadata).creationTimestamp, now) },
    ...columns.filter((c) => c.priority),
  ];
  const rowObject = (o: KubeObject) => {
    if (includeObject === 'None') return undefined;
    if (includeObject === 'Object') return o;
    return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
  };
  return {
    kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: meta,
    columnDefinitions: all.map((c) => ({ name: c.name, type: c.type, format: c.name === 'Name' ? 'name' : '', description: '', priority: c.priority ?? 0 })),
    rows: objects.map((o) => ({ cells: all.map((c) => c.cell(o as unknown as Obj)), object: rowObject(o) })),
  };
}
