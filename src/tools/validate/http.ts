// The HTTP calls `switchboard validate` makes, as a client would make them: raw bodies (so a
// malformed one can be sent), every response read whole, streams parsed as SSE, and the headers
// the router adds (x-switchboard-backend, x-request-id) kept for the checks.
import { performance } from 'node:perf_hooks';
import { requestJson, SseParser } from '../../core/index.js';

export interface HttpOptions {
  method?: string;
  /** A string is sent as is (malformed JSON included); anything else as JSON. */
  body?: unknown;
  token?: string | undefined;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Only streams ask for text/event-stream: the registry answers that with its change feed. */
  accept?: string;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, or undefined. */
  json: unknown;
  ms: number;
}

function withTimeout(signal: AbortSignal | undefined, ms: number): AbortSignal {
  const t = AbortSignal.timeout(ms);
  return signal ? AbortSignal.any([signal, t]) : t;
}

export async function http(url: string, opts: HttpOptions): Promise<HttpResult> {
  const started = performance.now();
  const raw = typeof opts.body === 'string';
  const r = await requestJson(url, {
    ...(opts.method !== undefined && { method: opts.method }),
    ...(raw ? { rawBody: opts.body as string } : { body: opts.body }),
    token: opts.token,
    timeoutMs: opts.timeoutMs,
    signal: withTimeout(opts.signal, opts.timeoutMs),
    headers: { accept: opts.accept ?? 'application/json' },
  });
  return { status: r.status, headers: r.headers, text: r.text, json: r.body, ms: Math.round(performance.now() - started) };
}

export function header(r: HttpResult, name: string): string | undefined {
  const v = r.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The OpenAI error envelope's message, when the body is one. */
export function errorMessage(r: HttpResult): string | undefined {
  const e = (r.json as { error?: unknown } | undefined)?.error;
  if (typeof e === 'string') return e;
  const m = (e as { message?: unknown } | undefined)?.message;
  return typeof m === 'string' ? m : undefined;
}

export interface ChatResult extends HttpResult {
  /** x-switchboard-backend: which backend served. */
  backend: string | undefined;
  requestId: string | undefined;
  /** The assistant's text (non-stream: message.content; stream: the deltas joined). */
  content: string;
  /** Stream: data events received, the last one's data, and any `event: error` data. */
  events: number;
  lastData: string | undefined;
  errorEvent: string | undefined;
}

export interface ChatOptions {
  model: string;
  stream: boolean;
  content: string;
  maxTokens?: number;
  apiKey?: string | undefined;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export async function chat(routerUrl: string, o: ChatOptions): Promise<ChatResult> {
  const body = { model: o.model, messages: [{ role: 'user', content: o.content }], stream: o.stream, max_tokens: o.maxTokens ?? 8 };
  const r = await http(`${routerUrl}/v1/chat/completions`, { body, token: o.apiKey, timeoutMs: o.timeoutMs, signal: o.signal, accept: o.stream ? 'text/event-stream' : 'application/json' });
  const out: ChatResult = { ...r, backend: header(r, 'x-switchboard-backend'), requestId: header(r, 'x-request-id'), content: '', events: 0, lastData: undefined, errorEvent: undefined };
  if (r.status !== 200) return out;
  if (!o.stream) {
    const c = (r.json as { choices?: { message?: { content?: unknown } }[] } | undefined)?.choices?.[0]?.message?.content;
    out.content = typeof c === 'string' ? c : '';
    return out;
  }
  const parser = new SseParser((ev) => {
    if (ev.event === 'error') {
      out.errorEvent = ev.data;
      return;
    }
    out.events++;
    out.lastData = ev.data;
    if (ev.data === '[DONE]') return;
    try {
      const d = (JSON.parse(ev.data) as { choices?: { delta?: { content?: unknown } }[] }).choices?.[0]?.delta?.content;
      if (typeof d === 'string') out.content += d;
    } catch {
      // a chunk that is not JSON is caught by the step's checks (content stays short)
    }
  });
  parser.push(r.text);
  parser.push('\n\n');
  return out;
}

/** A short reason why a chat answer is not a good one, or undefined when it is. */
export function chatProblem(r: ChatResult, stream: boolean): string | undefined {
  if (r.status !== 200) return `HTTP ${r.status}${errorMessage(r) ? `: ${errorMessage(r)}` : ''}`;
  if (!stream) {
    const object = (r.json as { object?: unknown } | undefined)?.object;
    if (object !== 'chat.completion') return `object is ${JSON.stringify(object)}, expected "chat.completion"`;
    if (r.content.length === 0) return 'choices[0].message.content is empty';
    return undefined;
  }
  const type = header(r, 'content-type') ?? '';
  if (!type.includes('text/event-stream')) return `content-type is '${type}', expected text/event-stream`;
  if (r.errorEvent !== undefined) return `the stream ended with an error event: ${r.errorEvent.slice(0, 200)}`;
  if (r.lastData !== '[DONE]') return `the stream ended without data: [DONE] (last data: ${JSON.stringify(r.lastData?.slice(0, 80))})`;
  if (r.events < 2) return 'the stream carried no chunk before [DONE]';
  return undefined;
}
