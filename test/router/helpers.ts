// Router test doubles: a tiny OpenAI-shaped backend whose behaviour the test sets (answer, fail,
// hang, cut a stream, stream slowly), and a router built on static services or a registry.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { SseParser } from '../../src/core/index.js';
import { routerConfigSchema, type RouterConfigInput } from '../../src/router/config.js';
import { buildRouter, type Router } from '../../src/router/server.js';
import type { BackendSpec } from '../../src/router/backend.js';

export type Mode = 'ok' | 'fail500' | 'fail503' | 'hang' | 'cut' | 'slow' | 'close';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface TestBackend {
  name: string;
  url: string;
  port: number;
  mode: Mode;
  /** Chunks a 'cut' stream sends before the connection is destroyed. */
  cutAfter: number;
  /** ms between chunks in 'slow' mode. */
  slowMs: number;
  readonly seen: SeenRequest[];
  /** Requests whose client side closed before the backend finished ('slow'/'hang'). */
  aborted: number;
  server: Server;
  close(): Promise<void>;
  /** Listens again on the same port (after close). */
  reopen(): Promise<void>;
}

function completion(name: string, model: string): string {
  return JSON.stringify({
    id: `chatcmpl-${name}`,
    object: 'chat.completion',
    created: 1,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: `hello from ${name}` }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
  });
}

function chunk(model: string, content: string): string {
  return `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
}

export async function startBackend(t: TestContext | undefined, name: string, opts: { port?: number } = {}): Promise<TestBackend> {
  const b: TestBackend = {
    name,
    url: '',
    port: 0,
    mode: 'ok',
    cutAfter: 3,
    slowMs: 50,
    seen: [],
    aborted: 0,
    server: undefined as unknown as Server,
    close: async () => {
      b.server.closeAllConnections();
      await new Promise<void>((r) => b.server.close(() => r()));
    },
    reopen: async () => {
      b.server = make();
      await new Promise<void>((r) => b.server.listen(b.port, '127.0.0.1', () => r()));
    },
  };
  const handle = (req: IncomingMessage, res: ServerResponse, body: string): void => {
    b.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    if (req.url === '/health') {
      res.writeHead(b.mode === 'fail503' ? 503 : 200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    let parsed: { model?: string; stream?: boolean } = {};
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      // not JSON
    }
    const model = parsed.model ?? 'none';
    switch (b.mode) {
      case 'fail500':
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"boom"}}');
        return;
      case 'fail503':
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"message":"Loading model"}}');
        return;
      case 'close':
        req.socket.destroy();
        return;
      case 'hang':
        res.on('close', () => b.aborted++);
        return;
      case 'ok':
      case 'cut':
      case 'slow':
        break;
    }
    if (!parsed.stream) {
      const text = completion(name, model);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    if (b.mode === 'cut') {
      for (let i = 0; i < b.cutAfter; i++) res.write(chunk(model, `w${i} `));
      setTimeout(() => req.socket.destroy(), 20);
      return;
    }
    if (b.mode === 'slow') {
      let i = 0;
      let finished = false;
      const timer = setInterval(() => {
        if (i < 50) res.write(chunk(model, `s${i++} `));
        else {
          finished = true;
          clearInterval(timer);
          res.end('data: [DONE]\n\n');
        }
      }, b.slowMs);
      res.on('close', () => {
        clearInterval(timer);
        if (!finished) b.aborted++;
      });
      return;
    }
    for (let i = 0; i < 5; i++) res.write(chunk(model, `t${i} `));
    res.end('data: [DONE]\n\n');
  };
  const make = (): Server =>
    createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => handle(req, res, Buffer.concat(parts).toString('utf8')));
    });
  b.server = make();
  await new Promise<void>((r) => b.server.listen(opts.port ?? 0, '127.0.0.1', () => r()));
  b.port = (b.server.address() as AddressInfo).port;
  b.url = `http://127.0.0.1:${b.port}`;
  t?.after(() => b.close().catch(() => undefined));
  return b;
}

export function spec(b: TestBackend, models: string[], meta: Record<string, unknown> = {}): BackendSpec {
  return { name: b.name, host: '127.0.0.1', port: b.port, url: b.url, status: 'running', healthy: true, metadata: { type: 'openai-api', models, ...meta }, static: true };
}

/** A router on 127.0.0.1:0 with the given backends added as static services (not health-checked). */
export async function startRouter(t: TestContext, input: RouterConfigInput = {}, backends: BackendSpec[] = []): Promise<Router> {
  const config = routerConfigSchema.parse({ port: 0, healthIntervalMs: 3_600_000, ...input });
  const router = await buildRouter(config);
  for (const s of backends) router.table.upsert({ ...s, metadata: { health_check: false, ...s.metadata } });
  t.after(() => router.close());
  await router.listen();
  return router;
}

export function chat(url: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], ...body }) });
}

export async function sse(res: Response): Promise<{ events: { event: string; data: string }[]; raw: string }> {
  const raw = await res.text();
  const events: { event: string; data: string }[] = [];
  const p = new SseParser((ev) => events.push({ event: ev.event, data: ev.data }));
  p.push(raw);
  return { events, raw };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
