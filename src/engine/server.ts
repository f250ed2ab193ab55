// The sim process: an OpenAI-compatible HTTP surface (vLLM's paths plus the un-prefixed ones
// InfiniLM's backends serve) over the engine model, with llama.cpp's /health and /slots, vLLM's
// /metrics, and a fault-injection admin API. The HTTP layer only drives the Scheduler on the
// injected Clock; all timing lives there.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  acceptRequestId,
  asSwitchboardError,
  closeServer,
  listen,
  METRICS_CONTENT_TYPE,
  newRequestId,
  RouteTable,
  sbError,
  sendJson,
  sendText,
  silentLogger,
  splitUrl,
  systemClock,
  systemRandom,
  urlOf,
  type Clock,
  type Logger,
  type Random,
} from '../core/index.js';
import { adminGuard, getFaults, postCrash, putFaults } from './admin.js';
import { serves, type SimConfig } from './config.js';
import { modelLookups, type Exchange, type SimDeps } from './context.js';
import { Faults } from './faults.js';
import { handleGeneration } from './generate.js';
import { createSimMetrics } from './metrics.js';
import { errorBody, LOADING_BODY, modelList } from './openai-shapes.js';
import { handleEmbeddings, handleRerank } from './pooling.js';
import { Scheduler } from './scheduler.js';

export interface SimServerOptions {
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  /** Called after a simulated crash has cut every connection (the CLI exits non-zero). */
  onCrash?: (reason: string) => void;
}

export interface SimServer {
  /** Listens on config.host:config.port; resolves with the base URL. */
  listen(): Promise<string>;
  readonly url: string | undefined;
  readonly scheduler: Scheduler;
  readonly faults: Faults;
  close(): Promise<void>;
}

type Handler = (d: SimDeps, x: Exchange) => Promise<void> | void;
type Family = 'chat' | 'embeddings' | 'rerank';

export function buildSimServer(config: SimConfig, opts: SimServerOptions = {}): SimServer {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? systemRandom;
  const log = opts.logger ?? silentLogger;
  const metrics = createSimMetrics(config.models[0]!, () => scheduler.stats());
  const scheduler = new Scheduler({ ...config, clock, hooks: metrics.hooks, onError: (err) => log.error({ err }, 'engine callback failed') });
  const faults = new Faults(config.faults, clock, random);
  let crashed = false;
  const crash = (reason: string): void => {
    if (crashed) return;
    crashed = true;
    log.error({ reason }, 'simulated crash: the engine dies now');
    scheduler.close();
    server.close();
    server.closeAllConnections();
    opts.onCrash?.(reason);
  };
  const d: SimDeps = { config, clock, random, log, scheduler, faults, metrics, createdS: Math.floor(clock.now() / 1000), crash, ...modelLookups(config, random) };
  const checkAdmin = adminGuard(d);

  // inference endpoints: warm-up and --kind first, then the handler; answers count toward crashAfterRequests
  const inference = (family: Family, fn: Handler): Handler => (dd, x) => {
    if (faults.loading()) throw sbError('SB_ERR_ENGINE_LOADING');
    if (!serves(config.kind, family)) throw sbError('SB_ERR_ENGINE_ENDPOINT_DISABLED', config.kind, x.path);
    x.res.once('finish', () => {
      if (faults.answered()) {
        metrics.faultInjected('crash');
        crash(`crashAfterRequests ${faults.settings.crashAfterRequests}`);
      }
    });
    return fn(dd, x);
  };
  const ready = (fn: Handler): Handler => (dd, x) => {
    if (faults.loading()) throw sbError('SB_ERR_ENGINE_LOADING');
    return fn(dd, x);
  };
  const admin = (fn: Handler): Handler => (dd, x) => {
    checkAdmin(x.req);
    return fn(dd, x);
  };

  const chat = inference('chat', (dd, x) => handleGeneration(dd, x, 'chat'));
  const completion = inference('chat', (dd, x) => handleGeneration(dd, x, 'completion'));
  const embeddings = inference('embeddings', handleEmbeddings);
  const rerank = inference('rerank', handleRerank);
  const models = ready((dd, x) => sendJson(x.res, 200, modelList(config.models, dd.createdS, config.maxModelLen)));
  const routes = new RouteTable<Exchange>();
  const add = (method: string, paths: string[], h: Handler): void => {
    for (const p of paths) routes.add(method, p, (x) => h(d, x));
  };
  add('POST', ['/v1/chat/completions', '/chat/completions'], chat);
  add('POST', ['/v1/completions', '/completions'], completion);
  add('POST', ['/v1/embeddings', '/embeddings'], embeddings);
  add('POST', ['/v1/rerank', '/rerank', '/v2/rerank'], rerank);
  add('GET', ['/v1/models', '/models'], models);
  add('GET', ['/health'], (_, x) => {
    if (faults.loading()) sendJson(x.res, 503, LOADING_BODY);
    else sendJson(x.res, 200, { status: 'ok' });
  });
  add('GET', ['/slots'], ready((_, x) => slotsEndpoint(d, x)));
  add('GET', ['/metrics'], (_, x) => sendText(x.res, 200, metrics.render(), METRICS_CONTENT_TYPE));
  add('GET', ['/admin/faults'], admin(getFaults));
  add('PUT', ['/admin/faults'], admin((dd, x) => putFaults(dd, x, false)));
  add('PATCH', ['/admin/faults'], admin((dd, x) => putFaults(dd, x, true)));
  add('POST', ['/admin/crash'], admin(postCrash));

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const { path, query } = splitUrl(req.url);
    const requestId = acceptRequestId(req.headers['x-request-id'] as string | undefined) ?? newRequestId();
    const x: Exchange = { req, res, path, query, requestId, arrivedAt: clock.monotonic() };
    try {
      const match = routes.match(method, path);
      if (!match) throw sbError('SB_ERR_NOT_FOUND', method, path);
      if (match === 'method-not-allowed') throw sbError('SB_ERR_METHOD_NOT_ALLOWED', method, path);
      await match.handler(x, match.params);
    } catch (err) {
      const e = asSwitchboardError(err);
      if (e.statusCode >= 500 && e.code !== 'SB_ERR_ENGINE_FAULT' && e.code !== 'SB_ERR_ENGINE_LOADING') log.error({ err: e.cause ?? e, requestId, method, path }, e.message);
      if (res.headersSent) res.destroy();
      else if (!res.destroyed) sendJson(res, e.statusCode, errorBody(e), e.statusCode === 413 ? { connection: 'close' } : { 'x-request-id': requestId });
    }
  };
  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => void handle(req, res));
  // a socket error on one client (reset, parse error) is that client's problem, never the sim's
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });

  let url: string | undefined;
  return {
    scheduler,
    faults,
    get url() {
      return url;
    },
    async listen() {
      url = urlOf(await listen(server, config.host, config.port));
      log.info({ url, models: config.models, kind: config.kind, seed: config.seed }, 'listening');
      return url;
    },
    async close() {
      await closeServer(server, 1000);
      scheduler.close();
      metrics.close();
    },
  };
}

/** llama.cpp's GET /slots: one entry per slot; `?fail_on_no_slot=1` answers 503 when all are busy. */
function slotsEndpoint(d: SimDeps, x: Exchange): void {
  const slots = d.scheduler.slots().map((s, id) => ({
    id,
    id_task: s ? s.id : -1,
    n_ctx: d.config.maxModelLen,
    speculative: false,
    is_processing: s !== undefined,
    next_token: { has_next_token: s !== undefined, n_remain: s ? s.maxTokens - s.generated : -1, n_decoded: s ? s.generated : 0 },
  }));
  if (x.query.get('fail_on_no_slot') && slots.every((s) => s.is_processing)) {
    sendJson(x.res, 503, { error: { code: 503, message: 'no slot available', type: 'unavailable_error' } });
    return;
  }
  sendJson(x.res, 200, slots);
}
