// The embedded Kubernetes API server: an HTTP front for the store that speaks the
// real list/watch protocol, so unchanged client-node informers run against it in
// tests and the lab. Object operations and fault injection are plain methods.
import { rename, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../lib/log.ts';
import { RESOURCES, type ResourceType } from './resources.ts';
import { handle, type RouteContext } from './routes.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { ApiError } from './status.ts';
import { Store, type KubeObject } from './store.ts';
import { WatchHub, type GoneMode } from './watch.ts';
import { ApiServerError } from './errors.ts';

export type { KubeObject } from './store.ts';
export type { GoneMode } from './watch.ts';

export interface ApiServerOptions {
  /** host:port to listen on; default "127.0.0.1:0" (a free loopback port). "[::1]:0" for IPv6. */
  listen?: string;
  /** Objects created before the server starts serving. */
  objects?: unknown[];
  /** How often a watch with allowWatchBookmarks=true gets a BOOKMARK (default 10,000 ms; 0 = never). */
  bookmarkIntervalMs?: number;
  /** How many recent changes a watch can resume from before it gets 410 (default 50,000). */
  historyLimit?: number;
  /** How a watch from a too-old version is refused: 'event' (default, like the real server) or 'http'. */
  goneAs?: GoneMode;
  logger?: Logger;
  /** Called with every request as it arrives (tests count lists and watches with it). */
  onRequest?: (req: IncomingMessage) => void;
}

/** A resource type named by kind ("Service"), plural ("services") or apiVersion and kind. */
export type KindRef = string | { apiVersion: string; kind: string };

export interface ListFilter {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

function resolveKind(ref: KindRef): ResourceType {
  const found = typeof ref === 'string'
    ? RESOURCES.find((r) => r.kind === ref || r.plural === ref)
    : RESOURCES.find((r) => r.kind === ref.kind && r.apiVersion === ref.apiVersion);
  if (!found) throw new ApiError('NotFound', `no resource type ${JSON.stringify(ref)}`);
  return found;
}

function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen);
  if (!m) throw new ApiServerError('BadListen', `listen address must be HOST:PORT or [IPv6]:PORT, got "${listen}"`);
  const port = Number(m[3]);
  if (port > 65535) throw new ApiServerError('BadListen', `port out of range in "${listen}"`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

function copy(obj: KubeObject): KubeObject {
  return structuredClone(obj);
}

export class ApiServer {
  readonly store: Store;
  private readonly hub: WatchHub;
  private readonly host: string;
  private boundPort: number;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly log: Logger | undefined;
  private readonly onRequest: ((req: IncomingMessage) => void) | undefined;

  constructor(opts: ApiServerOptions = {}) {
    const { host, port } = parseListen(opts.listen ?? '127.0.0.1:0');
    this.host = host;
    this.boundPort = port;
    this.log = opts.logger;
    this.onRequest = opts.onRequest;
    this.store = new Store({ historyLimit: opts.historyLimit });
    this.hub = new WatchHub(this.store, { bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 10_000, goneAs: opts.goneAs ?? 'event' });
    for (const obj of opts.objects ?? []) this.store.apply(obj);
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `http://${this.address}`;
  }

  private get address(): string {
    return this.host.includes(':') ? `[${this.host}]:${this.boundPort}` : `${this.host}:${this.boundPort}`;
  }

  /** The current global resourceVersion. */
  get resourceVersion(): string {
    return String(this.store.resourceVersion);
  }

  /** Open watch streams. */
  get watchCount(): number {
    return this.hub.count;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** Starts serving (again), on the same port as before once a port has been bound. No-op when running. */
  async start(): Promise<void> {
    if (this.server) return;
    const ctx: RouteContext = { store: this.store, hub: this.hub, serverAddress: '' };
    const server = createServer((req, res) => {
      this.onRequest?.(req);
      ctx.serverAddress = this.address;
      void handle(ctx, req, res).then(() => {
        if (res.statusCode >= 500) this.log?.warn({ method: req.method, url: req.url, code: res.statusCode }, 'request failed');
      });
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.host, port: this.boundPort }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      throw new ApiServerError('ListenFailed', `cannot listen on ${this.address}`, { object: 'apiserver', cause: err });
    });
    const addr = server.address();
    if (addr && typeof addr === 'object') this.boundPort = addr.port;
    this.server = server;
    this.log?.info({ url: this.url }, 'API server listening');
  }

  /** Goes away like a crashed server: the port closes and every connection is cut. Data and versions stay. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.hub.dropAll();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
    this.log?.info({ url: this.url }, 'API server stopped');
  }

  /** Stops for good. */
  async close(): Promise<void> {
    await this.stop();
  }

  // --- objects -------------------------------------------------------------

  create(obj: unknown): KubeObject {
    return copy(this.store.create(obj).obj);
  }

  /** Replaces an object; a metadata.resourceVersion in `obj` must match (409 otherwise). */
  update(obj: unknown): KubeObject {
    return copy(this.store.update(obj).obj);
  }

  /** Creates or replaces unconditionally. */
  apply(obj: unknown): KubeObject {
    return copy(this.store.apply(obj).obj);
  }

  remove(kind: KindRef, namespace: string | undefined, name: string): KubeObject {
    return copy(this.store.delete(resolveKind(kind), namespace, name).obj);
  }

  get(kind: KindRef, namespace: string | undefined, name: string): KubeObject | undefined {
    try {
      return copy(this.store.get(resolveKind(kind), namespace, name).obj);
    } catch (err) {
      if (err instanceof ApiError && err.reason === 'NotFound') return undefined;
      throw err;
    }
  }

  list(kind: KindRef, filter: ListFilter = {}): KubeObject[] {
    const resource = resolveKind(kind);
    return this.store.list(resource, {
      namespace: filter.namespace,
      labelSelector: parseLabelSelector(filter.labelSelector),
      fieldSelector: parseFieldSelector(filter.fieldSelector, resource.fields),
    }).items.map((e) => copy(e.obj));
  }

  // --- fault injection -----------------------------------------------------

  /** Ends every watch stream cleanly (as a server-side timeout does); informers rewatch from their last version. */
  endWatches(): void {
    this.hub.endAll();
  }

  /** Cuts every watch connection abruptly; a client-node informer then emits 'error' and stops until start(). */
  dropWatches(): void {
    this.hub.dropAll();
  }

  /**
   * Forgets history: any watch from a version handed out so far gets 410 Gone and its client
   * must relist; with `upTo`, only watches from versions before it (as an etcd compaction at that revision).
   */
  compact(upTo?: string): void {
    this.store.compact(upTo === undefined ? undefined : Number(upTo));
  }

  // --- client configuration ------------------------------------------------

  /** A kubeconfig for this server. Plain HTTP needs insecure-skip-tls-verify, or client-node refuses it. */
  kubeconfigYaml(): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: kpr-apiserver',
      '  cluster:',
      `    server: ${this.url}`,
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: kpr',
      '  user:',
      '    token: kpr-embedded',
      'contexts:',
      '- name: kpr-apiserver',
      '  context:',
      '    cluster: kpr-apiserver',
      '    user: kpr',
      'current-context: kpr-apiserver',
      '',
    ].join('\n');
  }

  /** Writes the kubeconfig atomically, so that a script polling for the file never reads half of it. */
  async writeKubeconfig(path: string): Promise<void> {
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, this.kubeconfigYaml(), { mode: 0o600 });
    await rename(tmp, path);
  }

  /** A client-node KubeConfig pointing at this server. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(this.kubeconfigYaml());
    return kc;
  }
}

/** Creates the server, loads `objects`, and starts listening. */
export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const server = new ApiServer(opts);
  await server.start();
  return server;
}
