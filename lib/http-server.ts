// The one way kpr's small HTTP servers (the proxy's healthz, metrics, service health
// checks; kpr network's healthz and metrics) listen and stop: plain node:http, a promise
// that settles once bound or failed; and how their bind-address flags are read.
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { normalizeIP } from './ip.ts';

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

/**
 * Parses "host:port", "[v6]:port", "host" or ":port" as Go's net.Listen takes them; an
 * empty or unspecified host means every address. Returns the problem as text.
 */
export function parseBindAddress(text: string, defaultPort: number): BindAddress | string {
  let host = text;
  let port = String(defaultPort);
  const bracketed = /^\[([^\]]*)\](?::(\d*))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1] ?? '';
    port = bracketed[2] ?? port;
  } else if (text.split(':').length === 2) {
    [host = '', port = ''] = text.split(':');
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return `${JSON.stringify(text)} has an invalid port`;
  const ip = host === '' ? '' : normalizeIP(host);
  if (ip === undefined) return `${JSON.stringify(text)} is not an IP address with an optional port`;
  return { host: ip === '' || ip === '0.0.0.0' || ip === '::' ? undefined : ip, port: Number(port) };
}
