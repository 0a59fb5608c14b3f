import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../apiserver/server.ts';
import { service } from '../../test/flows/objects.ts';
import { listAllPages } from './informers.ts';

describe('listAllPages', () => {
  let api: ApiServer;
  beforeAll(async () => {
    api = await startApiServer({
      objects: Array.from({ length: 1201 }, (_, i) => service({ name: `svc-${i}`, clusterIP: `10.100.${i >> 8}.${i & 255}`, ports: [{ port: 80, targetPort: 80 }] })),
    });
  });
  afterAll(() => api.close());

  it('gathers every page of a list into one, with the first page resource version', async () => {
    const core = api.kubeConfig().makeApiClient(CoreV1Api);
    const pages: (string | undefined)[] = [];
    const list = await listAllPages((cont) => {
      pages.push(cont);
      return core.listServiceForAllNamespaces({ limit: 500, _continue: cont });
    });
    expect(pages).toHaveLength(3);
    expect(pages[0]).toBeUndefined();
    expect(list.items).toHaveLength(1201);
    expect(new Set(list.items.map((s) => s.metadata?.name)).size).toBe(1201);
    expect(list.metadata?.resourceVersion).toBe(api.resourceVersion);
    expect(list.metadata?._continue).toBeUndefined();
  });
});
