// JSON over HTTP for control-plane calls (agent -> registry, router -> registry, CLI tools).
// undici `request` with explicit timeouts; never used on the router's proxy path.
import { request } from 'undici';

export interface JsonRequestOptions {
  method?: string;
  body?: unknown;
  /** Sent exactly as given (a malformed body included), as application/json; instead of `body`. */
  rawBody?: string;
  token?: string | undefined;
  timeoutMs?: number;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

export interface JsonResponse<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
  /** The raw text, for errors that are not JSON. */
  text: string;
}

export async function requestJson<T = unknown>(url: string, opts: JsonRequestOptions = {}): Promise<JsonResponse<T>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  let payload: string | undefined;
  if (opts.rawBody !== undefined || opts.body !== undefined) {
    payload = opts.rawBody ?? JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await request(url, {
    method: (opts.method ?? (payload === undefined ? 'GET' : 'POST')) as 'GET',
    headers,
    body: payload,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    signal: opts.signal ?? AbortSignal.timeout(timeoutMs),
  });
  const text = await res.body.text();
  let body: unknown = undefined;
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  }
  return { status: res.statusCode, headers: res.headers, body: body as T, text };
}
