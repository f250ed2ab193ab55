// GET /services in its three forms: a plain list (the original's filters), a blocking query
// (`?index=N&wait=30s`, answered when the change index passes N, as Consul does), and a watch
// (`?watch=true` or `Accept: text/event-stream`): a snapshot, then upsert/delete/load events.
// `GET /services/events` is the same watch under its own path.
import { parseDuration, sbError } from '../core/index.js';
import type { Exchange } from './api.js';
import { reply } from './api.js';
import type { FeedEntry } from './feed.js';
import { isoTimestamp, toWire, type StoredService } from './record.js';

export const INDEX_HEADER = 'x-switchboard-index';
/** A watcher whose socket has this much unsent is too slow: it is cut and resumes from a snapshot. */
const MAX_UNSENT_BYTES = 8 * 1024 * 1024;
const DEFAULT_WAIT_MS = 30_000;

function truthy(v: string | null): boolean {
  return v !== null && (v === '' || v === '1' || v.toLowerCase() === 'true');
}

/** The original's filters: `status` exact; `healthy=true` healthy only, any other non-empty value unhealthy only. */
function applyFilters(list: StoredService[], query: URLSearchParams, nowMs: number): ReturnType<typeof toWire>[] {
  const status = query.get('status');
  const healthy = query.get('healthy');
  let out = list.map((s) => toWire(s, nowMs));
  if (status) out = out.filter((s) => s.status === status);
  if (healthy) {
    const want = healthy.toLowerCase() === 'true';
    out = out.filter((s) => s.is_healthy === want);
  }
  return out;
}

function parseIndex(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw sbError('SB_ERR_INVALID_FIELD', 'index', 'a non-negative integer (the X-Switchboard-Index of an earlier answer)').withParam('index');
  return n;
}

export async function listServices(x: Exchange): Promise<void> {
  const { query, deps } = x;
  const accept = x.req.headers.accept ?? '';
  if (truthy(query.get('watch')) || accept.includes('text/event-stream')) return watch(x);

  const indexParam = query.get('index');
  if (indexParam !== null && indexParam !== '') {
    const after = parseIndex(indexParam);
    const waitParam = query.get('wait');
    let waitMs = DEFAULT_WAIT_MS;
    if (waitParam) {
      const parsed = parseDuration(waitParam, 's');
      if (parsed === undefined) throw sbError('SB_ERR_INVALID_FIELD', 'wait', 'a duration such as 30s, 500ms or 5m').withParam('wait');
      waitMs = Math.min(parsed, deps.config.maxWaitMs);
    }
    const gone = new AbortController();
    x.res.once('close', () => gone.abort());
    await deps.feed.waitForChange(after, waitMs, gone.signal);
    if (gone.signal.aborted) return;
  }
  const index = deps.feed.index;
  const nowMs = deps.clock.now();
  const services = applyFilters(await deps.store.list(), query, nowMs);
  reply(x, 200, { services, total: services.length, timestamp: isoTimestamp(nowMs) }, { [INDEX_HEADER]: index });
}

/**
 * GET /services/events: the watch. The path is also `/services/{name}` for a service named
 * "events", which the original allowed; a plain JSON GET of it still gets that record.
 */
export async function serviceEvents(x: Exchange): Promise<void> {
  if (!(x.req.headers.accept ?? '').includes('text/event-stream')) {
    const s = await x.deps.store.get('events');
    if (s) return reply(x, 200, toWire(s, x.deps.clock.now()));
  }
  watch(x);
}

function watch(x: Exchange): void {
  const { res, deps } = x;
  const { feed, store, clock } = deps;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
    'x-request-id': x.requestId,
    [INDEX_HEADER]: feed.index,
  });
  res.flushHeaders();

  let closed = false;
  const write = (text: string): void => {
    if (closed) return;
    if (!res.write(text) && res.writableLength > MAX_UNSENT_BYTES) {
      deps.log.warn({ requestId: x.requestId, unsent: res.writableLength }, 'watcher too slow; disconnecting it (it will resume from a snapshot)');
      res.destroy();
    }
  };
  const send = (e: FeedEntry): void => write(`event: ${e.event}\n${e.id !== undefined ? `id: ${e.id}\n` : ''}data: ${e.data}\n\n`);

  // Events that arrive while a snapshot is being read are held, then sent if newer than it.
  let held: FeedEntry[] | null = null;
  const snapshot = async (): Promise<void> => {
    held ??= [];
    const index = feed.index;
    try {
      const services = (await store.list()).map((s) => toWire(s, clock.now()));
      write(`event: snapshot\nid: ${index}\ndata: ${JSON.stringify({ index, services })}\n\n`);
    } catch (err) {
      write(`event: error\ndata: ${JSON.stringify({ error: (err as Error).message })}\n\n`);
      res.end();
      return;
    }
    const pending = held;
    held = null;
    for (const e of pending) if (e.id === undefined || e.id > index) send(e);
  };

  const unsubscribe = feed.subscribe((e) => {
    if (e === 'close') res.end();
    else if (e === 'resync') void snapshot();
    else if (held) held.push(e);
    else send(e);
  });
  const keepAlive = setInterval(() => write(': keep-alive\n\n'), deps.config.keepAliveMs);
  keepAlive.unref();
  res.once('close', () => {
    closed = true;
    clearInterval(keepAlive);
    unsubscribe();
  });

  const lastIdText = x.req.headers['last-event-id'] ?? x.query.get('index') ?? undefined;
  const lastId = typeof lastIdText === 'string' && /^\d+$/.test(lastIdText) ? Number(lastIdText) : undefined;
  const missed = lastId !== undefined ? feed.since(lastId) : undefined;
  if (missed) {
    for (const e of missed) send(e);
    // tells the client it is in sync (and the index to resume from) without resending every record
    write(`event: sync\nid: ${feed.index}\ndata: ${JSON.stringify({ index: feed.index })}\n\n`);
  } else {
    void snapshot();
  }
}
