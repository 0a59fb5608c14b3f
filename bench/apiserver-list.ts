// Scale figures for the embedded API server: N Services × M endpoints each (one slice per
// Service), listed raw, through the typed client, and synced by informers; with the cost of
// serialising the same objects from scratch as the baseline measured in the same run.
// Run: node --import tsx bench/apiserver-list.ts [services=10000] [endpointsPerService=10]
import { CoreV1Api, DiscoveryV1Api, makeInformer } from '@kubernetes/client-node';
import { RESOURCES } from '../apiserver/resources.ts';
import { listBody } from '../apiserver/routes.ts';
import { startApiServer } from '../apiserver/server.ts';

const services = Number(process.argv[2] ?? 10_000);
const perService = Number(process.argv[3] ?? 10);

function service(i: number): object {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: `svc-${i}`, namespace: `ns-${i % 100}`, labels: { app: `app-${i}` } },
    spec: { type: 'ClusterIP', clusterIP: `10.96.${(i >> 8) & 255}.${i & 255}`, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
  };
}

function slice(i: number): object {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `svc-${i}-abcde`, namespace: `ns-${i % 100}`, labels: { 'kubernetes.io/service-name': `svc-${i}`, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: perService }, (_, j) => ({
      addresses: [`10.${(i >> 8) & 255}.${i & 255}.${j + 1}`],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: `node-${j % 3}`,
      targetRef: { kind: 'Pod', namespace: `ns-${i % 100}`, name: `pod-${i}-${j}` },
    })),
  };
}

async function timed<T>(label: string, fn: () => Promise<T> | T): Promise<T> {
  const start = performance.now();
  const result = await fn();
  process.stdout.write(`${label.padEnd(58)} ${(performance.now() - start).toFixed(0).padStart(7)} ms\n`);
  return result;
}

const objects = [...Array.from({ length: services }, (_, i) => service(i)), ...Array.from({ length: services }, (_, i) => slice(i))];
const server = await startApiServer({ bookmarkIntervalMs: 0 });
try {
  await timed(`create ${services} Services + ${services} EndpointSlices (in-process)`, () => { for (const o of objects) server.create(o); });
  const stored = server.list('EndpointSlice');
  await timed('baseline: JSON.stringify of the stored slices', () => JSON.stringify(stored));
  const sliceType = RESOURCES.find((r) => r.kind === 'EndpointSlice')!;
  await timed('server side: list + body of all slices (no HTTP)', () => listBody(sliceType, server.store.list(sliceType)));
  let bytes = 0;
  await timed('GET /apis/discovery.k8s.io/v1/endpointslices (raw body)', async () => {
    bytes = (await (await fetch(`${server.url}/apis/discovery.k8s.io/v1/endpointslices`)).text()).length;
  });
  process.stdout.write(`  slice list body: ${(bytes / 1e6).toFixed(1)} MB\n`);
  await timed('GET /api/v1/services (raw body)', async () => (await fetch(`${server.url}/api/v1/services`)).text());
  const kc = server.kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  await timed('typed list: listServiceForAllNamespaces', () => core.listServiceForAllNamespaces());
  await timed('typed list: listEndpointSliceForAllNamespaces', () => discovery.listEndpointSliceForAllNamespaces());
  const svcInf = makeInformer(kc, '/api/v1/services', () => core.listServiceForAllNamespaces());
  const sliceInf = makeInformer(kc, '/apis/discovery.k8s.io/v1/endpointslices', () => discovery.listEndpointSliceForAllNamespaces());
  await timed('informers: both start() (initial list synced)', () => Promise.all([svcInf.start(), sliceInf.start()]));
  let updates = 0;
  sliceInf.on('update', () => updates++);
  await timed(`${services} slice updates delivered to the informer`, async () => {
    for (let i = 0; i < services; i++) server.apply({ ...(slice(i) as Record<string, unknown>), addressType: 'IPv4', ports: [{ name: 'http', port: 8081, protocol: 'TCP' }] });
    while (updates < services) await new Promise((r) => setTimeout(r, 5));
  });
  await Promise.all([svcInf.stop(), sliceInf.stop()]).catch(() => undefined);
  process.stdout.write(`heap used: ${(process.memoryUsage().heapUsed / 1e6).toFixed(0)} MB\n`);
} finally {
  await server.close();
}
