// The one way the proxy's small HTTP servers (healthz, metrics, service health checks)
// listen and stop: plain node:http, a promise that settles once bound or failed.
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An address and port to listen on; host undefined means every address of both families. */
export interface BindAddress {
  host: string | undefined;
  port: number;
}

export interface RunningServer {
  /** The bound port (differs from the requested one when that was 0). */
  port: number;
  close(): Promise<void>;
}

export function formatBindAddress(a: BindAddress): string {
  const host = a.host ?? '';
  return host.includes(':') ? `[${host}]:${a.port}` : `${host}:${a.port}`;
}

/** Listens with `handler`; rejects with the bind error (e.g. EADDRINUSE). */
export function listenHTTP(bind: BindAddress, handler: RequestListener): Promise<RunningServer> {
  const server = createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: bind.host, port: bind.port }, () => {
      server.off('error', reject);
      const port = (server.address() as AddressInfo).port;
      resolve({
        port,
        close: () =>
          new Promise<void>((done) => {
            // Health probes use keep-alive; drop idle connections so close() settles now.
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
