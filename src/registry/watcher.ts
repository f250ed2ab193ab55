// Follows a registry's records: the SSE change feed (`/services?watch=true`), resuming with
// Last-Event-ID after a disconnect, or, against a registry that has no feed (InfiniLM-SVC's own,
// which answers the plain list), polling `/services` every pollIntervalMs. While the registry is
// unreachable the watcher reports it and retries with jittered back-off; it never tells the
// consumer to forget what it has (static stability is the consumer's to keep).
import { StringDecoder } from 'node:string_decoder';
import { request } from 'undici';
import { backoffDelay, describeError, silentLogger, SseParser, systemClock, systemRandom, type Clock, type Logger, type Random } from '../core/index.js';
import type { ServiceLoad, ServiceRecord } from './record.js';

export interface WatchHandlers {
  /** The complete current record set (replaces what the consumer had). */
  snapshot(services: ServiceRecord[]): void;
  upsert(service: ServiceRecord): void;
  remove(name: string): void;
  load?(name: string, load: ServiceLoad): void;
  /** Connected or not, and how (watch = SSE feed, poll = plain list). */
  state?(s: WatchState): void;
}

export interface WatchState {
  connected: boolean;
  mode: 'watch' | 'poll';
  detail?: string;
}

export interface WatchOptions {
  url: string;
  token?: string | undefined;
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  /** Poll interval against registries without a feed (InfiniLM `--registry-sync-interval`). */
  pollIntervalMs?: number;
  connectTimeoutMs?: number;
  /** No byte for this long (the registry sends a keep-alive every 15 s) means the feed is dead. */
  idleTimeoutMs?: number;
}

export interface Watcher {
  readonly state: WatchState;
  close(): void;
}

export function watchRegistry(opts: WatchOptions, handlers: WatchHandlers): Watcher {
  const base = opts.url.replace(/\/+$/, '');
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? systemRandom;
  const log = opts.logger ?? silentLogger;
  const pollMs = opts.pollIntervalMs ?? 10_000;
  const abort = new AbortController();
  let lastId: string | undefined;
  let state: WatchState = { connected: false, mode: 'watch' };
  const auth: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};

  const setState = (s: WatchState): void => {
    if (s.connected !== state.connected || s.mode !== state.mode) {
      if (s.connected) log.info({ registry: base, mode: s.mode }, 'registry connected');
      else log.warn({ registry: base, detail: s.detail }, 'registry unreachable; keeping the last known services');
    }
    state = s;
    handlers.state?.(s);
  };

  const onEvent = (event: string, data: string, id: string | undefined): void => {
    switch (event) {
      case 'snapshot':
        handlers.snapshot((JSON.parse(data) as { services: ServiceRecord[] }).services);
        break;
      case 'upsert':
        handlers.upsert(JSON.parse(data) as ServiceRecord);
        break;
      case 'delete':
        handlers.remove((JSON.parse(data) as { name: string }).name);
        break;
      case 'load': {
        const l = JSON.parse(data) as { name: string; load: ServiceLoad };
        handlers.load?.(l.name, l.load);
        break;
      }
      case 'error':
        throw new Error(`registry feed error: ${data}`);
      default:
        break; // 'sync' and future events only move the id
    }
    if (id !== undefined) lastId = id;
  };

  /** One SSE session; resolves 'poll' when the registry has no feed, 'ended' when the stream ends. */
  const session = async (): Promise<'poll' | 'ended'> => {
    const res = await request(`${base}/services?watch=true`, {
      method: 'GET',
      headers: { accept: 'text/event-stream', ...auth, ...(lastId !== undefined ? { 'last-event-id': lastId } : {}) },
      signal: abort.signal,
      headersTimeout: opts.connectTimeoutMs ?? 5000,
      bodyTimeout: opts.idleTimeoutMs ?? 45_000,
    });
    const type = String(res.headers['content-type'] ?? '');
    if (res.statusCode === 200 && !type.includes('text/event-stream')) {
      await res.body.dump();
      return 'poll';
    }
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      throw new Error(`watch answered ${res.statusCode}: ${text.slice(0, 200)}`);
    }
    setState({ connected: true, mode: 'watch' });
    const parser = new SseParser((ev) => onEvent(ev.event, ev.data, ev.id));
    // undici's body yields Buffers whatever setEncoding says; decode across chunk boundaries
    const decoder = new StringDecoder('utf8');
    for await (const chunk of res.body) parser.push(typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer));
    return 'ended';
  };

  const poll = async (): Promise<void> => {
    while (!abort.signal.aborted) {
      try {
        const res = await request(`${base}/services`, { method: 'GET', headers: auth, signal: abort.signal, headersTimeout: opts.connectTimeoutMs ?? 5000, bodyTimeout: 10_000 });
        if (res.statusCode !== 200) throw new Error(`GET /services answered ${res.statusCode}`);
        const body = (await res.body.json()) as { services?: ServiceRecord[] };
        handlers.snapshot(Array.isArray(body.services) ? body.services : []);
        setState({ connected: true, mode: 'poll' });
      } catch (err) {
        if (abort.signal.aborted) return;
        setState({ connected: false, mode: 'poll', detail: describeError(err) });
      }
      await clock.sleep(pollMs, abort.signal).catch(() => undefined);
    }
  };

  const run = async (): Promise<void> => {
    let attempt = 0;
    while (!abort.signal.aborted) {
      try {
        if ((await session()) === 'poll') {
          log.info({ registry: base }, 'registry has no change feed; polling it');
          return await poll();
        }
        attempt = 0;
        setState({ connected: false, mode: 'watch', detail: 'feed ended' });
      } catch (err) {
        if (abort.signal.aborted) return;
        setState({ connected: false, mode: 'watch', detail: describeError(err) });
      }
      await clock.sleep(backoffDelay(random, attempt++, 200, 5000), abort.signal).catch(() => undefined);
    }
  };
  void run();

  return {
    get state() {
      return state;
    },
    close() {
      abort.abort();
    },
  };
}
