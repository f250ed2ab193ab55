// HTTP helpers for the control-plane servers (registry, agent, sim, router admin endpoints).
// The router's proxy path does not use these: it has its own byte-forwarding path.
import { Buffer } from 'node:buffer';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { isSwitchboardError, sbError, sbErrorFrom, type SwitchboardError } from './errors.js';

export const JSON_CONTENT_TYPE = 'application/json';

/**
 * A request header read from rawHeaders (the first with that lowercase name). Cheaper than
 * req.headers on a hot path: touching req.headers makes Node build the whole headers object.
 */
export function rawHeader(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!;
    if (k.length === name.length && k.toLowerCase() === name) return raw[i + 1];
  }
  return undefined;
}

/** Reads the whole body, refusing more than limitBytes with SB_ERR_BODY_TOO_LARGE (413). */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = Number(rawHeader(req.rawHeaders, 'content-length'));
  if (Number.isFinite(declared) && declared > limitBytes) {
    req.resume();
    return Promise.reject(sbError('SB_ERR_BODY_TOO_LARGE', limitBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limitBytes) {
        failed = true;
        chunks.length = 0;
        reject(sbError('SB_ERR_BODY_TOO_LARGE', limitBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
    });
  });
}

/** Parses a JSON body; SB_ERR_INVALID_JSON (400) names the syntax problem. Empty => undefined. */
export function parseJson(body: Buffer | string): unknown {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw sbErrorFrom(err, 'SB_ERR_INVALID_JSON', (err as Error).message);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': JSON_CONTENT_TYPE,
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

export function sendText(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Any thrown value as a catalog error (unknown errors become SB_ERR_INTERNAL, cause kept). */
export function asSwitchboardError(err: unknown): SwitchboardError {
  return isSwitchboardError(err) ? err : sbErrorFrom(err, 'SB_ERR_INTERNAL');
}

export function bearerToken(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (!h || h.length < 8 || h.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  return h.slice(7).trim();
}

/** The path of "/a/b?x=1": "/a/b". */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** Splits "/a/b?x=1" into the path and its query parameters. */
export function splitUrl(url: string | undefined): { path: string; query: URLSearchParams } {
  const raw = url ?? '/';
  const q = raw.indexOf('?');
  return q === -1 ? { path: raw, query: new URLSearchParams() } : { path: raw.slice(0, q), query: new URLSearchParams(raw.slice(q + 1)) };
}

// ---------------------------------------------------------------- route table

export type RouteHandler<C> = (ctx: C, params: Record<string, string>) => Promise<void> | void;

interface Route<C> {
  method: string;
  pattern: string;
  segments: string[];
  handler: RouteHandler<C>;
}

export interface RouteMatch<C> {
  handler: RouteHandler<C>;
  params: Record<string, string>;
  /** The pattern that matched (a bounded label for metrics). */
  pattern: string;
}

/**
 * A small method + path table (`/services/:name/heartbeat`), compiled once. match() returns
 * the handler, or "method-not-allowed" when the path exists under another method, or undefined.
 */
export class RouteTable<C> {
  readonly #routes: Route<C>[] = [];

  add(method: string, pattern: string, handler: RouteHandler<C>): this {
    this.#routes.push({ method, pattern, segments: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  match(method: string, path: string): RouteMatch<C> | 'method-not-allowed' | undefined {
    const parts = path.split('/').filter(Boolean);
    let pathMatched = false;
    for (const r of this.#routes) {
      if (r.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length; i++) {
        const seg = r.segments[i]!;
        if (seg.startsWith(':')) {
          try {
            params[seg.slice(1)] = decodeURIComponent(parts[i]!);
          } catch {
            ok = false;
            break;
          }
        } else if (seg !== parts[i]) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      if (r.method === method || (method === 'HEAD' && r.method === 'GET')) return { handler: r.handler, params, pattern: r.pattern };
      pathMatched = true;
    }
    return pathMatched ? 'method-not-allowed' : undefined;
  }
}

// ---------------------------------------------------------------- lifecycle

export function listen(server: NetServer, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(sbErrorFrom(err, 'SB_ERR_LISTEN', host, port, (err as NodeJS.ErrnoException).code ?? err.message));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Stops accepting, lets in-flight requests finish for up to graceMs, then cuts the rest. */
export function closeServer(server: Server, graceMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    const t = setTimeout(() => server.closeAllConnections(), graceMs);
    t.unref();
    server.close(() => {
      clearTimeout(t);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/** "http://127.0.0.1:8081" for an address (IPv6 in brackets). */
export function urlOf(addr: AddressInfo | { address: string; port: number }): string {
  const host = addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  return `http://${host}:${addr.port}`;
}

export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost' || host.startsWith('127.');
}

/**
 * A constant-time bearer-token check: both sides are hashed first, so neither the token's
 * length nor its prefix leaks through timing.
 */
export function bearerChecker(expected: string): (req: IncomingMessage) => boolean {
  const want = createHash('sha256').update(expected).digest();
  return (req) => {
    const got = bearerToken(req);
    if (got === undefined) return false;
    return timingSafeEqual(createHash('sha256').update(got).digest(), want);
  };
}
