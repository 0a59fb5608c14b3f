// Watch streams: newline-delimited JSON events over a chunked response, replayed
// from the store's history and then fed live. Selectors apply per event, with the
// real server's rule that an object moving out of a selector is seen as DELETED
// and one moving in as ADDED.
import type { ServerResponse } from 'node:http';
import type { ResourceType } from './resources.ts';
import type { FieldSelector, LabelSelector } from './selectors.ts';
import { ApiError } from './status.ts';
import type { Entry, KubeObject, Store, StoreEvent } from './store.ts';

export interface WatchRequest {
  resource: ResourceType;
  namespace: string | undefined;
  labelSelector: LabelSelector;
  fieldSelector: FieldSelector;
  /** The raw ?resourceVersion=; unset, '' and '0' mean "current state as ADDED events, then changes". */
  resourceVersion: string | undefined;
  allowBookmarks: boolean;
  timeoutSeconds: number | undefined;
  /** What an event carries for an object (a one-row Table for `kubectl get -w`); default the object. */
  render?: (obj: KubeObject) => string;
}

/** How a watch from a version older than the history window is refused. */
export type GoneMode = 'event' | 'http';

export interface WatchHubOptions {
  bookmarkIntervalMs: number;
  /** 'event' (the real server's way): 200, then an ERROR event carrying a 410 Status. 'http': a 410 response. */
  goneAs: GoneMode;
}

interface Watcher {
  res: ServerResponse;
  close(): void;
}

function eventLine(type: string, objectJson: string): string {
  return `{"type":"${type}","object":${objectJson}}\n`;
}

export class WatchHub {
  private readonly watchers = new Set<Watcher>();

  constructor(private readonly store: Store, private readonly opts: WatchHubOptions) {}

  get count(): number {
    return this.watchers.size;
  }

  /** Starts a watch on `res`. Throws an ApiError (before anything is written) for a bad request or a 410 in 'http' mode. */
  serve(req: WatchRequest, res: ServerResponse): void {
    const { store } = this;
    const rvParam = req.resourceVersion;
    const fromState = rvParam === undefined || rvParam === '' || rvParam === '0';
    let startRv = store.resourceVersion;
    let backlog: StoreEvent[] | undefined = [];
    if (!fromState) {
      if (!/^\d+$/.test(rvParam)) throw new ApiError('BadRequest', `invalid resource version "${rvParam}"`);
      startRv = Number(rvParam);
      backlog = store.eventsSince(startRv);
    }
    if (!backlog) {
      const gone = new ApiError('Expired', `too old resource version: ${startRv} (${store.resourceVersion})`);
      if (this.opts.goneAs === 'http') throw gone;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(eventLine('ERROR', JSON.stringify(gone.toStatus())));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' });
    res.flushHeaders();

    const send = (line: string): void => { res.write(line); };
    if (fromState) {
      const listed = store.list(req.resource, { namespace: req.namespace, labelSelector: req.labelSelector, fieldSelector: req.fieldSelector });
      for (const entry of listed.items) send(eventLine('ADDED', req.render ? req.render(entry.obj) : entry.json));
    }
    const deliver = (ev: StoreEvent): void => {
      if (ev.rv <= startRv || ev.resource !== req.resource) return;
      const line = this.convert(req, ev);
      if (line) send(line);
    };
    for (const ev of backlog) deliver(ev);
    const unsubscribe = store.subscribe(deliver);

    const timers: NodeJS.Timeout[] = [];
    if (req.allowBookmarks && this.opts.bookmarkIntervalMs > 0) {
      const bookmark = (): void => {
        const obj = { kind: req.resource.kind, apiVersion: req.resource.apiVersion, metadata: { resourceVersion: String(store.resourceVersion) } };
        send(eventLine('BOOKMARK', JSON.stringify(obj)));
      };
      timers.push(setInterval(bookmark, this.opts.bookmarkIntervalMs));
    }
    const watcher: Watcher = {
      res,
      close: () => {
        unsubscribe();
        for (const t of timers) clearTimeout(t);
        this.watchers.delete(watcher);
      },
    };
    if (req.timeoutSeconds !== undefined && req.timeoutSeconds > 0) {
      timers.push(setTimeout(() => res.end(), req.timeoutSeconds * 1000));
    }
    res.on('close', watcher.close);
    this.watchers.add(watcher);
  }

  /** Ends every watch cleanly, as a server-side timeout does: clients rewatch from their last version. */
  endAll(): void {
    for (const w of [...this.watchers]) {
      w.close();
      w.res.end();
    }
  }

  /** Cuts every watch connection abruptly (a reset, not a clean end of stream). */
  dropAll(): void {
    for (const w of [...this.watchers]) {
      w.close();
      w.res.socket?.destroy();
    }
  }

  /** The line this watcher sees for a change, if any. */
  private convert(req: WatchRequest, ev: StoreEvent): string | undefined {
    const { entry } = ev;
    const json = (e: Entry): string => (req.render ? req.render(e.obj) : e.json);
    if (req.namespace !== undefined && req.resource.namespaced && entry.obj.metadata.namespace !== req.namespace) return undefined;
    const matches = (e: Entry): boolean => this.store.matches(e, req.labelSelector, req.fieldSelector);
    const now = ev.type !== 'DELETED' && matches(entry);
    const before = ev.type === 'DELETED' ? matches(entry) : ev.prev !== undefined && matches(ev.prev);
    if (now) return eventLine(before ? 'MODIFIED' : 'ADDED', json(entry));
    if (!before) return undefined;
    if (ev.type === 'DELETED' || !ev.prev) return eventLine('DELETED', json(entry));
    // Moved out of the selector: the last content the watcher was allowed to see, at this event's version.
    const prevObj = ev.prev.obj;
    const gone = { ...prevObj, metadata: { ...prevObj.metadata, resourceVersion: String(ev.rv) } };
    return eventLine('DELETED', req.render ? req.render(gone) : JSON.stringify(gone));
  }
}
