import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { ServiceHealthServer } from './service-health.ts';

const quiet = createLogger('service-health-test', 'silent');

/** Holds a loopback port open (to make it busy) until closed. */
async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  return { port: (server.address() as AddressInfo).port, server };
}

async function freePort(): Promise<number> {
  const { port, server } = await holdPort();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A silent logger that keeps what was logged at error level. */
function capturingLog() {
  const errors: unknown[] = [];
  const log = createLogger('service-health-test', 'silent');
  log.error = ((obj: unknown) => { errors.push(obj); }) as typeof log.error;
  return { log, errors };
}

async function probe(port: number): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://127.0.0.1:${port}/any/path`);
  return { status: res.status, body: await res.json() };
}

let hcs: ServiceHealthServer | undefined;
afterEach(async () => {
  await hcs?.close();
  hcs = undefined;
});

describe('ServiceHealthServer', () => {
  it('answers 200 only with local endpoints and a healthy proxy', async () => {
    let proxyHealthy = true;
    hcs = new ServiceHealthServer({ addresses: () => ['127.0.0.1'], isProxyHealthy: () => proxyHealthy, log: quiet });
    const port = await freePort();
    await hcs.syncServices(new Map([['default/web', port]]));
    expect(await probe(port)).toEqual({ status: 503, body: { service: { namespace: 'default', name: 'web' }, localEndpoints: 0, serviceProxyHealthy: true } });
    hcs.syncEndpoints(new Map([['default/web', 2], ['default/unserved', 5]]));
    expect(await probe(port)).toEqual({ status: 200, body: { service: { namespace: 'default', name: 'web' }, localEndpoints: 2, serviceProxyHealthy: true } });
    proxyHealthy = false;
    expect(await probe(port)).toMatchObject({ status: 503, body: { localEndpoints: 2, serviceProxyHealthy: false } });
    proxyHealthy = true;
    hcs.syncEndpoints(new Map());
    expect(await probe(port)).toMatchObject({ status: 503, body: { localEndpoints: 0 } });
  });

  it('listens only on the addresses it is given (nodePortAddresses)', async () => {
    hcs = new ServiceHealthServer({ addresses: () => ['127.0.0.1'], isProxyHealthy: () => true, log: quiet });
    const port = await freePort();
    await hcs.syncServices(new Map([['ns/lb', port]]));
    expect((await probe(port)).status).toBe(503);
    await expect(fetch(`http://127.0.0.2:${port}/`)).rejects.toThrow();
  });

  it('opens, moves and closes listeners as services come and go', async () => {
    hcs = new ServiceHealthServer({ addresses: () => ['127.0.0.1'], isProxyHealthy: () => true, log: quiet });
    const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
    await hcs.syncServices(new Map([['ns/a', p1], ['ns/b', p2]]));
    expect(hcs.served()).toEqual(new Map([['ns/a', p1], ['ns/b', p2]]));
    await hcs.syncServices(new Map([['ns/a', p3]]));
    expect(hcs.served()).toEqual(new Map([['ns/a', p3]]));
    await expect(fetch(`http://127.0.0.1:${p1}/`)).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${p2}/`)).rejects.toThrow();
    expect((await probe(p3)).body).toMatchObject({ service: { namespace: 'ns', name: 'a' } });
  });

  it('hands a port from a removed service to a new one in the same sync', async () => {
    hcs = new ServiceHealthServer({ addresses: () => ['127.0.0.1'], isProxyHealthy: () => true, log: quiet });
    const port = await freePort();
    await hcs.syncServices(new Map([['ns/old', port]]));
    await hcs.syncServices(new Map([['ns/new', port]]));
    expect(hcs.served()).toEqual(new Map([['ns/new', port]]));
    expect((await probe(port)).body).toMatchObject({ service: { name: 'new' } });
  });

  it('skips a port that cannot be bound without breaking the others, and retries it later', async () => {
    const busy = await holdPort();
    const { log, errors } = capturingLog();
    hcs = new ServiceHealthServer({ addresses: () => ['127.0.0.1'], isProxyHealthy: () => true, log });
    const ok = await freePort();
    const wanted = new Map([['ns/blocked', busy.port], ['ns/fine', ok]]);
    await hcs.syncServices(wanted);
    expect(hcs.served()).toEqual(new Map([['ns/fine', ok]]));
    expect(errors).toEqual([expect.objectContaining({ service: 'ns/blocked', port: busy.port, err: expect.stringContaining('EADDRINUSE') })]);
    await new Promise<void>((resolve) => busy.server.close(() => resolve()));
    await hcs.syncServices(wanted);
    expect(hcs.served()).toEqual(wanted);
    expect((await probe(busy.port)).body).toMatchObject({ service: { name: 'blocked' } });
  });

  it('serialises overlapping syncs (no second bind of the same port)', async () => {
    const { log, errors } = capturingLog();
    hcs = new ServiceHealthServer({ addresses: () => ['127.0.0.1'], isProxyHealthy: () => true, log });
    const port = await freePort();
    const want = new Map([['ns/a', port]]);
    await Promise.all([hcs.syncServices(want), hcs.syncServices(want), hcs.syncServices(want)]);
    expect(hcs.served()).toEqual(want);
    expect(errors).toEqual([]);
  });
});
