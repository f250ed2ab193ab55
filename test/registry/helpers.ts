// Shared by the registry's HTTP tests: a real registry (buildRegistry on 127.0.0.1:0), JSON calls,
// an SSE change-feed reader, and a real HTTP backend whose /health answer a test can change.
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { SseParser, type SseEvent } from '../../src/core/index.js';
import { registryConfigSchema, type RegistryConfigInput } from '../../src/registry/config.js';
import type { ServiceRecord } from '../../src/registry/record.js';
import { buildRegistry, type Registry } from '../../src/registry/server.js';

export async function startRegistry(t: TestContext, input: RegistryConfigInput = {}): Promise<{ url: string; registry: Registry }> {
  const config = registryConfigSchema.parse({ port: 0, probes: false, ...input });
  const registry = await buildRegistry(config);
  t.after(() => registry.close());
  const url = await registry.listen();
  return { url, registry };
}

export interface JsonAnswer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  text: string;
  body: T;
}

/** One HTTP call with a JSON (or raw string) body; the answer parsed when it is JSON. */
export async function call<T = Record<string, unknown>>(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<JsonAnswer<T>> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, text, body: parsed as T };
}

/** The original's registration payload (validate_integration.py's mock-service, with our name). */
export function registration(name: string, port = 5001, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    host: '127.0.0.1',
    port,
    hostname: '127.0.0.1',
    url: `http://127.0.0.1:${port}`,
    status: 'running',
    metadata: { type: 'openai-api', test: true, description: 'Mock service for testing' },
    ...extra,
  };
}

export async function register(base: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<ServiceRecord> {
  const res = await call<{ service: ServiceRecord }>('POST', `${base}/services`, body, headers);
  if (res.status !== 201) throw new Error(`register answered ${res.status}: ${res.text}`);
  return res.body.service;
}

// ------------------------------------------------------------------ SSE feed reader

export interface FeedEvent extends SseEvent {
  json: unknown;
  /** performance.now() when the event was parsed. */
  at: number;
}

export interface FeedReader {
  readonly res: IncomingMessage;
  readonly events: FeedEvent[];
  /** The raw stream text so far (comments included). */
  readonly raw: () => string;
  /** Resolves with the first event (seen from position `from`, or future) matching `pred`, else rejects after timeoutMs. */
  next(pred: (e: FeedEvent) => boolean, timeoutMs?: number, from?: number): Promise<FeedEvent>;
  close(): void;
}

/** Opens a change feed (`path` relative to base), e.g. `/services?watch=true`. */
export async function openFeed(t: TestContext, base: string, path = '/services?watch=true', headers: Record<string, string> = {}): Promise<FeedReader> {
  const req = httpRequest(base + path, { method: 'GET', headers });
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  const events: FeedEvent[] = [];
  const waiters = new Set<{ pred: (e: FeedEvent) => boolean; resolve: (e: FeedEvent) => void }>();
  const parser = new SseParser((ev) => {
    let json: unknown;
    try {
      json = JSON.parse(ev.data);
    } catch {
      json = undefined;
    }
    const e: FeedEvent = { ...ev, json, at: performance.now() };
    events.push(e);
    for (const w of waiters) {
      if (w.pred(e)) {
        waiters.delete(w);
        w.resolve(e);
      }
    }
  });
  let raw = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    if (raw.length < 1 << 20) raw += chunk;
    parser.push(chunk);
  });
  res.on('error', () => undefined);
  const close = (): void => {
    req.destroy();
    res.destroy();
  };
  t.after(close);
  return {
    res,
    events,
    raw: () => raw,
    close,
    next(pred, timeoutMs = 5000, from = 0) {
      const seen = events.slice(from).find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = {
          pred,
          resolve: (e: FeedEvent) => {
            clearTimeout(timer);
            resolve(e);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`no matching feed event within ${timeoutMs} ms; got ${events.map((e) => e.event).join(', ') || 'none'}`));
        }, timeoutMs);
        waiters.add(w);
      });
    },
  };
}

// ------------------------------------------------------------------ a backend to probe

export interface ProbeHit {
  path: string;
  status: number;
  at: number;
}

export interface Backend {
  readonly url: string;
  readonly port: number;
  readonly hits: ProbeHit[];
  /** What the next health answers are. */
  status: number;
  /** Called before each answer (a test can look at the registry's state here). */
  onHit: ((hit: ProbeHit) => Promise<void> | void) | undefined;
  /** Milliseconds each answer waits. */
  delayMs: number;
  /** Requests being answered right now, per path, and the most ever at once (overall and per path). */
  readonly inFlight: Map<string, number>;
  maxInFlight: number;
  maxInFlightPerPath: number;
  readonly server: Server;
}

export async function startBackend(t: TestContext): Promise<Backend> {
  const b = {
    url: '',
    port: 0,
    hits: [] as ProbeHit[],
    status: 200,
    onHit: undefined as Backend['onHit'],
    delayMs: 0,
    inFlight: new Map<string, number>(),
    maxInFlight: 0,
    maxInFlightPerPath: 0,
  };
  let total = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    const hit: ProbeHit = { path, status: b.status, at: performance.now() };
    b.hits.push(hit);
    total++;
    const mine = (b.inFlight.get(path) ?? 0) + 1;
    b.inFlight.set(path, mine);
    b.maxInFlight = Math.max(b.maxInFlight, total);
    b.maxInFlightPerPath = Math.max(b.maxInFlightPerPath, mine);
    const finish = (): void => {
      total--;
      b.inFlight.set(path, (b.inFlight.get(path) ?? 1) - 1);
      res.writeHead(hit.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: hit.status === 200 ? 'healthy' : 'unhealthy' }));
    };
    void Promise.resolve(b.onHit?.(hit)).then(() => (b.delayMs > 0 ? setTimeout(finish, b.delayMs) : finish()));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  b.port = port;
  b.url = `http://127.0.0.1:${port}`;
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return Object.assign(b, { server });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
