// A list/watch informer that keeps no objects. client-node's ListWatch caches every
// object as a typed model (tens of MB at 10,000 Services), and the proxy never reads
// that cache: its handlers turn each object into its own model at once. This one keeps
// only name -> resourceVersion, which is all it needs to skip unchanged objects on a
// relist and to deliver deletes for objects that vanished while it was not watching.
// Requests go through client-node's own machinery (KubeConfig auth and TLS, its fetch,
// its Watch); lists come back as plain JSON, as watch events already do.
import { HttpMethod, IsomorphicFetchHttpLibrary, RequestContext, Watch, type KubeConfig } from '@kubernetes/client-node';
import * as z from 'zod';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { KubeError } from './errors.ts';

export interface ResourceHandlers {
  /** An object was added or changed (only the new version is known). */
  upsert(obj: unknown): void;
  /**
   * An object was deleted: the last version from a watch event, or, for an object that
   * vanished while the informer was away, only `{ metadata: { namespace, name } }`.
   */
  delete(obj: unknown): void;
}

export interface InformerOptions {
  /** Resource name for logs, e.g. "services". */
  what: string;
  /** Collection path, e.g. "/api/v1/services". */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Items per list page (limit/continue). */
  pageSize?: number;
  backoffMs?: { first: number; max: number };
  /**
   * The server may not serve this resource (an older kube-apiserver answers 404), or not
   * to us (403: RBAC from before it was needed): then it counts as listed with no objects,
   * and is looked for again every `backoffMs.max`.
   */
  optional?: boolean;
}

const DEFAULT_PAGE_SIZE = 500;
const DEFAULT_BACKOFF_MS = { first: 200, max: 30_000 };

const listSchema = z.object({
  metadata: z.object({ resourceVersion: z.string().optional(), continue: z.string().optional() }).optional(),
  items: z.array(z.unknown()).nullish(),
});
const metaSchema = z.object({
  metadata: z.object({ name: z.string(), namespace: z.string().optional(), resourceVersion: z.string().optional() }),
});
const bookmarkSchema = z.object({ metadata: z.object({ resourceVersion: z.string().min(1) }) });
const statusCodeSchema = z.object({ code: z.number().optional() });

type Meta = z.infer<typeof metaSchema>['metadata'];

function metaOf(raw: unknown): Meta | undefined {
  const r = metaSchema.safeParse(raw);
  return r.success ? r.data.metadata : undefined;
}

const keyOf = (md: Meta): string => (md.namespace ? `${md.namespace}/${md.name}` : md.name);

class HttpStatusError extends Error {
  constructor(
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
  }
}

/** Both our list errors and client-node's watch errors carry the HTTP status as statusCode. */
const isGone = (err: unknown): boolean => (err as { statusCode?: unknown } | null)?.statusCode === 410;
const statusOf = (err: unknown): unknown => (err as { statusCode?: unknown } | null)?.statusCode;
const isUnavailable = (err: unknown): boolean => statusOf(err) === 404 || statusOf(err) === 403;
const isTimeout = (err: unknown): boolean => (err as { name?: unknown } | null)?.name === 'TimeoutError';

export class Informer {
  /** What the handlers have been told exists: key -> resourceVersion. */
  private readonly known = new Map<string, string>();
  /** Where the watch continues from; '' means relist first. */
  private resourceVersion = '';
  private readonly watch: Watch;
  private readonly http = new IsomorphicFetchHttpLibrary();
  private request: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private backoff: number;
  private stopped = false;
  private eventSinceWatch = false;
  /** An optional resource the server does not serve (see InformerOptions.optional). */
  private missing = false;
  private listed!: () => void;
  /** Resolves once the first complete list has been delivered. */
  readonly synced = new Promise<void>((resolve) => (this.listed = resolve));

  constructor(
    private readonly kc: KubeConfig,
    private readonly opts: InformerOptions,
    private readonly handlers: ResourceHandlers,
    private readonly log: Logger,
  ) {
    this.watch = new Watch(kc);
    this.backoff = this.backoffMs.first;
  }

  /** The version the next watch continues from ('' until listed, or when a relist is due); client-go's LastSyncResourceVersion. */
  get lastSyncResourceVersion(): string {
    return this.resourceVersion;
  }

  private get backoffMs(): { first: number; max: number } {
    return this.opts.backoffMs ?? DEFAULT_BACKOFF_MS;
  }

  start(): void {
    this.stopped = false;
    void this.cycle();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.request?.abort();
    this.request = undefined;
  }

  /** Lists when needed, then watches from the list's (or the last event's) version. */
  private async cycle(): Promise<void> {
    if (this.stopped) return;
    if (!this.resourceVersion) {
      try {
        this.resourceVersion = await this.relist();
      } catch (err) {
        if (this.opts.optional && isUnavailable(err)) this.notServed(statusOf(err));
        else this.restartLater(err);
        return;
      }
      if (this.stopped) return;
      if (this.missing) this.log.info({ resource: this.opts.what }, 'the API server serves this resource now');
      this.missing = false;
      this.backoff = this.backoffMs.first;
      this.listed();
    }
    this.eventSinceWatch = false;
    const params: Record<string, string | boolean> = { resourceVersion: this.resourceVersion, allowWatchBookmarks: true };
    if (this.opts.labelSelector !== undefined) params.labelSelector = this.opts.labelSelector;
    if (this.opts.fieldSelector !== undefined) params.fieldSelector = this.opts.fieldSelector;
    let request: AbortController;
    try {
      request = await this.watch.watch(this.opts.path, params, (type, obj) => this.onEvent(type, obj), (err: unknown) => this.onDone(err));
    } catch (err) {
      // Before the request is made (credentials, configuration): retry like any failure.
      this.restartLater(err);
      return;
    }
    if (this.stopped) request.abort();
    else this.request = request;
  }

  /**
   * Lists every page, delivering each page's changed objects as it arrives (so no more
   * than one page is ever decoded at once), then deletes for the keys that are gone.
   * Returns the version of the first page: the snapshot the watch continues from.
   */
  private async relist(): Promise<string> {
    const seen = new Set<string>();
    let version: string | undefined;
    let cont: string | undefined;
    do {
      const page = await this.listPage(cont);
      version ??= page.metadata?.resourceVersion ?? '';
      for (const item of page.items ?? []) {
        const md = metaOf(item);
        if (!md) continue;
        const key = keyOf(md);
        seen.add(key);
        this.deliverUpsert(key, md, item);
      }
      cont = page.metadata?.continue || undefined;
    } while (cont && !this.stopped);
    if (this.stopped) return '';
    this.forgetAllBut(seen);
    if (!version) throw new KubeError('API_ERROR', 'list reply without a resourceVersion', { object: this.opts.path });
    return version;
  }

  /** Deletes what the handlers were told exists, except `seen`. */
  private forgetAllBut(seen: ReadonlySet<string>): void {
    for (const key of [...this.known.keys()]) {
      if (seen.has(key)) continue;
      this.known.delete(key);
      const slash = key.indexOf('/');
      this.handlers.delete({ metadata: slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) } });
    }
  }

  /** An optional resource answered 404 or 403: no objects, synced; look again later, quietly. */
  private notServed(status: unknown): void {
    if (this.stopped) return;
    if (!this.missing) this.log.info({ resource: this.opts.what, path: this.opts.path, status }, 'the API server does not serve this resource; treating it as empty');
    this.missing = true;
    this.forgetAllBut(new Set());
    this.resourceVersion = '';
    this.backoff = this.backoffMs.first;
    this.listed();
    this.scheduleCycle(this.backoffMs.max);
  }

  private async listPage(cont: string | undefined): Promise<z.infer<typeof listSchema>> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new KubeError('INVALID_CONFIG', 'the kubeconfig has no current cluster');
    const url = new URL(cluster.server + this.opts.path);
    if (this.opts.labelSelector !== undefined) url.searchParams.set('labelSelector', this.opts.labelSelector);
    if (this.opts.fieldSelector !== undefined) url.searchParams.set('fieldSelector', this.opts.fieldSelector);
    url.searchParams.set('limit', String(this.opts.pageSize ?? DEFAULT_PAGE_SIZE));
    if (cont) url.searchParams.set('continue', cont);
    const ctx = new RequestContext(url.toString(), HttpMethod.GET);
    ctx.setHeaderParam('Accept', 'application/json');
    await this.kc.applySecurityAuthentication(ctx);
    const resp = await this.http.send(ctx).toPromise();
    const text = await resp.body.text();
    if (resp.httpStatusCode !== 200) {
      throw new HttpStatusError(`list ${this.opts.path}: HTTP ${resp.httpStatusCode}: ${text.slice(0, 200)}`, resp.httpStatusCode);
    }
    const r = listSchema.safeParse(JSON.parse(text));
    if (!r.success) throw new KubeError('API_ERROR', `malformed list reply: ${r.error.message}`, { object: this.opts.path });
    return r.data;
  }

  private deliverUpsert(key: string, md: Meta, obj: unknown): void {
    const version = md.resourceVersion ?? '';
    // Unchanged since it was last delivered (a relist of what the watch already gave).
    if (version && this.known.get(key) === version) return;
    this.known.set(key, version);
    this.handlers.upsert(obj);
  }

  private onEvent(type: string, obj: unknown): void {
    if (this.stopped) return;
    if (type === 'ERROR') {
      const code = statusCodeSchema.safeParse(obj).data?.code;
      // 410 Gone: the version left the server's history window; relist when the stream ends.
      if (code === 410) this.resourceVersion = '';
      else this.log.warn({ resource: this.opts.what, status: obj }, 'watch error event');
      return;
    }
    if (type === 'BOOKMARK') {
      // No object, only the version the server has reached: a rewatch after a quiet period
      // resumes from it instead of from a version compaction may have removed.
      const bookmark = bookmarkSchema.safeParse(obj);
      if (bookmark.success) this.advance(bookmark.data.metadata.resourceVersion);
      return;
    }
    const md = metaOf(obj);
    if (!md) return;
    this.advance(md.resourceVersion);
    const key = keyOf(md);
    if (type === 'ADDED' || type === 'MODIFIED') this.deliverUpsert(key, md, obj);
    else if (type === 'DELETED') {
      this.known.delete(key);
      this.handlers.delete(obj);
    }
  }

  /** An event or bookmark arrived: the watch is alive, and continues from `version` when it has one. */
  private advance(version: string | undefined): void {
    this.eventSinceWatch = true;
    this.backoff = this.backoffMs.first;
    if (version) this.resourceVersion = version;
  }

  private onDone(err: unknown): void {
    this.request = undefined;
    if (this.stopped) return;
    if (err && isGone(err)) {
      this.resourceVersion = '';
      void this.cycle();
    } else if (err && !isTimeout(err)) {
      this.restartLater(err);
    } else if (err || this.eventSinceWatch || !this.resourceVersion) {
      // An inactivity timeout, a stream that carried events, or a 410 event: go on at once.
      void this.cycle();
    } else {
      // A clean end without a single event: do not spin against a server that ends every watch.
      this.scheduleCycle(this.nextBackoff());
    }
  }

  /** After a failure: wait, then relist, so that whatever happened meanwhile is delivered. */
  private restartLater(err: unknown): void {
    if (this.stopped) return;
    this.resourceVersion = '';
    const delay = this.nextBackoff();
    this.log.warn({ resource: this.opts.what, err: errorMessage(err), retryInMs: delay }, 'list/watch failed; relisting');
    this.scheduleCycle(delay);
  }

  private nextBackoff(): number {
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.backoffMs.max);
    return delay;
  }

  private scheduleCycle(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.cycle(), delayMs);
  }
}
