// Per-Service health checks on healthCheckNodePort (type LoadBalancer with
// externalTrafficPolicy Local): cloud load balancers probe every node and send traffic
// only to nodes that answer 200, i.e. that have a local Ready endpoint.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage } from '../../lib/errors.ts';
import { createLogger, type Logger } from '../../lib/log.ts';
import { listenHTTP, type RunningServer } from '../../lib/http-server.ts';

export interface ServiceHealthOptions {
  /**
   * Addresses to listen on, asked when a listener opens: the node IPs nodePortAddresses
   * selects; undefined or none: every address.
   */
  addresses?: () => readonly string[] | undefined;
  /** The proxy's own health (ProxyHealth.isHealthy, which ignores the Node). */
  isProxyHealthy: () => boolean;
  log?: Logger;
}

interface Instance {
  port: number;
  servers: RunningServer[];
  localEndpoints: number;
}

export class ServiceHealthServer {
  private readonly addresses: () => readonly string[] | undefined;
  private readonly isProxyHealthy: () => boolean;
  private readonly log: Logger;
  /** Keyed by "namespace/name". */
  private readonly services = new Map<string, Instance>();
  /** Serialises syncServices calls so listeners are never opened twice. */
  private syncing: Promise<void> = Promise.resolve();

  constructor(opts: ServiceHealthOptions) {
    this.addresses = opts.addresses ?? (() => undefined);
    this.isProxyHealthy = opts.isProxyHealthy;
    this.log = opts.log ?? createLogger('service-health');
  }

  /**
   * Makes `services` ("ns/name" → healthCheckNodePort) the served set: closes listeners of
   * services gone or moved, opens new ones. A port that cannot be bound is logged and
   * retried on the next call; it does not affect the other services.
   */
  syncServices(services: ReadonlyMap<string, number>): Promise<void> {
    const next = this.syncing.then(() => this.apply(services));
    this.syncing = next.catch(() => undefined);
    return next;
  }

  /** Sets the local Ready endpoint count of each served Service; absent ones get 0. */
  syncEndpoints(counts: ReadonlyMap<string, number>): void {
    for (const [name, inst] of this.services) inst.localEndpoints = counts.get(name) ?? 0;
  }

  /** The served services and their ports. */
  served(): Map<string, number> {
    return new Map([...this.services].map(([name, inst]) => [name, inst.port]));
  }

  async close(): Promise<void> {
    await this.syncServices(new Map());
  }

  private async apply(wanted: ReadonlyMap<string, number>): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const [name, inst] of this.services) {
      if (wanted.get(name) === inst.port) continue;
      this.log.info({ service: name, port: inst.port }, 'closing service health check');
      this.services.delete(name);
      closing.push(...inst.servers.map((s) => s.close()));
    }
    // Close first: a service whose port moved to another service must free it.
    await Promise.all(closing);
    const opening = [...wanted].filter(([name]) => !this.services.has(name));
    await Promise.all(opening.map(([name, port]) => this.open(name, port)));
  }

  private async open(name: string, port: number): Promise<void> {
    const listed = this.addresses();
    const hosts: (string | undefined)[] = listed && listed.length > 0 ? [...listed] : [undefined];
    const results = await Promise.allSettled(
      hosts.map((host) => listenHTTP({ host, port }, (req, res) => this.answer(name, req, res))),
    );
    const servers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failure = results.find((r) => r.status === 'rejected');
    if (failure) {
      // All or nothing per service, so the next sync retries it cleanly.
      await Promise.all(servers.map((s) => s.close()));
      this.log.error({ service: name, port, err: errorMessage(failure.reason) }, 'failed to start service health check');
      return;
    }
    this.log.info({ service: name, port }, 'opened service health check');
    this.services.set(name, { port, servers, localEndpoints: 0 });
  }

  private answer(name: string, _req: IncomingMessage, res: ServerResponse): void {
    const inst = this.services.get(name);
    const localEndpoints = inst?.localEndpoints ?? 0;
    const healthy = this.isProxyHealthy();
    const [namespace = '', svcName = ''] = name.split('/');
    res.writeHead(localEndpoints > 0 && healthy ? 200 : 503, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' });
    res.end(JSON.stringify({ service: { namespace, name: svcName }, localEndpoints, serviceProxyHealthy: healthy }));
  }
}
