// Builds the router: service table (registry feed + static file), balancers, proxy path, health
// checks and the HTTP front. The request handler is the hot path: it reads the body once
// (needed to route on the model and to retry), answers local endpoints itself and hands the rest
// to the proxy.
import { Buffer } from 'node:buffer';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  acceptRequestId,
  asSwitchboardError,
  bearerChecker,
  isLoopback,
  isSwitchboardError,
  listen,
  newRequestId,
  pathOf,
  rawHeader,
  readBody,
  sendJson,
  sbError,
  silentLogger,
  systemClock,
  systemRandom,
  urlOf,
  type Clock,
  type Logger,
  type Random,
  type TimerHandle,
  type CounterChild,
  type GaugeChild,
  type HistogramChild,
} from '../core/index.js';
import { statSync } from 'node:fs';
import { Admin } from './admin.js';
import { mountDashboard } from './dashboard.js';
import { Gateway } from './gateway.js';
import type { Backend } from './backend.js';
import { modelSettings, type RouterConfig } from './config.js';
import { Discovery } from './discovery.js';
import type { ClientRequest, ClientResponse, Exchange } from './exchange.js';
import { HealthChecker } from './health.js';
import { RouterEvents } from './events.js';
import { RouterMetrics } from './metrics.js';
import { Proxy } from './proxy.js';
import { sendOpenAIError } from './reply.js';
import { Front } from './front.js';
import { endpointOf, parseRequestInfo, sessionKeyOf } from './request-info.js';
import { loadStaticServices } from './static-services.js';
import { ServiceTable } from './table.js';


interface ModelSeries {
  duration: HistogramChild;
  inflight: GaugeChild;
  ttft: HistogramChild;
  prompt: CounterChild;
  completion: CounterChild;
  requests: Map<string | number, CounterChild>;
}

export interface RouterOptions {
  logger?: Logger;
  clock?: Clock;
  random?: Random;
  /**
   * Re-reads and validates the configuration (the routing file plus the command line); throws a
   * catalog error naming the problem. Without it, reload() re-applies the current config.
   */
  reloadConfig?: () => RouterConfig;
  /** The routing file, watched for changes every reloadIntervalMs. */
  configFile?: string | undefined;
}

/** A local endpoint (built in, or added by a module such as the dashboard): answers the request itself. */
export type LocalRoute = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface Router {
  readonly server: Server;
  readonly table: ServiceTable;
  readonly metrics: RouterMetrics;
  readonly admin: Admin;
  readonly events: RouterEvents;
  /** Local endpoints, keyed "METHOD /path" (e.g. "GET /dashboard"; HEAD uses GET's); modules add theirs. */
  readonly routes: Map<string, LocalRoute>;
  /** Checks the admin token when one is configured. */
  adminAllowed(req: IncomingMessage): boolean;
  readonly gateway: Gateway;
  /** The config in force (replaced by a reload). */
  readonly config: RouterConfig;
  /** Re-reads the routing file and applies it; a bad file is refused and the old config stays. */
  reload(): { ok: true } | { ok: false; error: string };
  url: string;
  listen(): Promise<string>;
  close(): Promise<void>;
}

export async function buildRouter(initial: RouterConfig, opts: RouterOptions = {}): Promise<Router> {
  let config = initial;
  const log = opts.logger ?? silentLogger;
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? systemRandom;
  if (!isLoopback(config.host) && !config.adminToken && !config.insecure) throw sbError('SB_ERR_INSECURE_BIND', config.host, 'the router (its admin endpoints)');

  const table = new ServiceTable(config, clock, log);
  const metrics = new RouterMetrics();
  if (config.staticServices) for (const spec of loadStaticServices(config.staticServices)) table.upsert(spec);
  const discovery = new Discovery(config, table, clock, random, log);
  const events = new RouterEvents(() => clock.now());
  const health = new HealthChecker(table, clock, log, config.healthIntervalMs, config.healthTimeoutMs, events);
  const proxy = new Proxy(config, table, metrics, clock, log, { random, loadFactor: config.hashLoadFactor }, (b: Backend, ms: number) => health.scheduleReadmission(b, ms), events);
  const admin = new Admin(table, metrics, clock, () => discovery.state());
  const gateway = await Gateway.create(config, { table, metrics, events, clock, random, log });
  const adminAllowed = config.adminToken ? bearerChecker(config.adminToken) : () => true;

  metrics.registry.onCollect(() => {
    metrics.registryUp.set(discovery.state().connected ? 1 : 0);
    metrics.backendUp.reset();
    for (const b of table.backends.values()) {
      // a deregistered backend kept for the grace period is not a backend that is down
      if (table.gone(b)) continue;
      const v = b.up && b.passive.routable ? 1 : 0;
      for (const m of b.models) metrics.backendUp.labels(b.name, m).set(v);
    }
  });

  // model labels stay bounded: a model some backend serves, else "unknown"
  const modelLabel = (model: string | undefined): string => (model !== undefined && table.servingModel(model).length > 0 ? model : model === undefined ? 'none' : 'unknown');

  // the label children of each model, looked up once (labels() joins and hashes its values)
  const perModel = new Map<string, ModelSeries>();
  const seriesOf = (model: string): ModelSeries => {
    let m = perModel.get(model);
    if (!m) {
      m = {
        duration: metrics.duration.labels(model),
        inflight: metrics.inflight.labels(model),
        ttft: metrics.ttft.labels(model),
        prompt: metrics.tokens.labels(model, 'prompt'),
        completion: metrics.tokens.labels(model, 'completion'),
        requests: new Map(),
      };
      perModel.set(model, m);
    }
    return m;
  };

  const endMetrics = (ex: Exchange): void => {
    const m = seriesOf(ex.modelLabel);
    const key = ex.variant === '' ? ex.status : `${ex.status} ${ex.variant}`;
    let req = m.requests.get(key);
    if (!req) {
      req = metrics.requests.labels(ex.modelLabel, String(ex.status), ex.variant);
      m.requests.set(key, req);
    }
    req.inc();
    m.duration.observe((clock.monotonic() - ex.startMono) / 1000);
    m.inflight.dec();
    if (ex.ttftMs !== undefined) m.ttft.observe(ex.ttftMs / 1000);
    if (ex.promptTokens > 0) m.prompt.inc(ex.promptTokens);
    if (ex.completionTokens > 0) m.completion.inc(ex.completionTokens);
    events.requestEnded(ex);
  };

  // every local endpoint, keyed "METHOD /path" (HEAD is looked up as GET); modules add theirs
  const routes = new Map<string, LocalRoute>();
  const adminOnly =
    (fn: LocalRoute): LocalRoute =>
    (req, res) => {
      if (adminAllowed(req)) return fn(req, res);
      sendOpenAIError(res, sbError('SB_ERR_UNAUTHORIZED', 'This endpoint needs the admin token (Authorization: Bearer <token>)'));
    };
  const get = (paths: string[], fn: LocalRoute): void => {
    for (const p of paths) routes.set(`GET ${p}`, fn);
  };
  get(['/health', '/status'], (_req, res) => admin.health(res));
  get(['/health/live', '/livez'], (_req, res) => admin.live(res));
  get(['/health/ready', '/readyz'], (_req, res) => admin.ready(res));
  get(['/models', '/v1/models'], (_req, res) => admin.models(res));
  get(['/metrics'], (_req, res) => admin.metricsText(res));
  get(['/services'], adminOnly((_req, res) => admin.services(res)));
  get(['/stats'], adminOnly((_req, res) => admin.stats(res)));
  get(['/admin/gateway'], adminOnly((_req, res) => sendJson(res, 200, gateway.status())));
  routes.set(
    'POST /admin/reload',
    adminOnly((_req, res) => {
      const r = router.reload();
      if (r.ok) sendJson(res, 200, { status: 'reloaded' });
      else sendOpenAIError(res, sbError('SB_ERR_CONFIG_INVALID', 'the routing file', r.error));
    }),
  );

  /** Sends an exchange the gateway let through to the proxy. */
  const send = (ex: Exchange): void => {
    const settings = modelSettings(config, ex.model);
    if (settings.policy === 'consistent_hash') ex.sessionKey = sessionKeyOf(ex.req, ex.info, config.sessionHeader, settings.hashKey);
    proxy.forward(ex, settings);
  };
  /** An exchange the gateway answered itself: its end hooks run now. */
  const ended = (ex: Exchange): void => {
    for (const fn of ex.onEnd) fn(ex);
  };

  /** Routes one request: synchronous unless the body is still to be read (node:http) or a policy has to wait (Redis). */
  const proxyRequest = (req: ClientRequest, res: ClientResponse, method: string, url: string, path: string, requestId: string, read: Buffer | IncomingMessage): void | Promise<void> => {
    if (!Buffer.isBuffer(read)) return readBody(read, config.maxBodyBytes).then((body) => proxyRequest(req, res, method, url, path, requestId, body));
    const endpoint = endpointOf(path);
    const body = read;
    const info = parseRequestInfo(endpoint, method, body);
    if (isSwitchboardError(info)) throw info;
    // an unknown path is proxied only when the body names a model to route on (as InfiniLM did)
    if (endpoint === 'other' && info.model === undefined) throw sbError('SB_ERR_NOT_FOUND', method, path);
    const ex: Exchange = {
      req,
      res,
      requestId,
      startMono: clock.monotonic(),
      startMs: clock.now(),
      method,
      url,
      path,
      body,
      info,
      model: info.model,
      modelLabel: modelLabel(info.model),
      variant: '',
      keyName: undefined,
      sessionKey: undefined,
      tried: new Set(),
      backend: undefined,
      status: 0,
      ttftMs: undefined,
      promptTokens: 0,
      completionTokens: 0,
      clientGone: false,
      ownHeaderPrefix: '',
      reservation: undefined,
      onEnd: [],
    };
    seriesOf(ex.modelLabel).inflight.inc();
    ex.onEnd.push(endMetrics);
    if (gateway.active) {
      const r = gateway.policy(ex);
      if (typeof r !== 'boolean') return r.then((ok) => (ok ? send(ex) : ended(ex)));
      if (!r) return ended(ex);
    }
    send(ex);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    const path = pathOf(url);
    const method = req.method ?? 'GET';
    const route = routes.get(`${method === 'HEAD' ? 'GET' : method} ${path}`);
    if (route) {
      res.setHeader('x-request-id', acceptRequestId(rawHeader(req.rawHeaders, 'x-request-id')) ?? newRequestId());
      void Promise.resolve()
        .then(() => route(req, res))
        .catch((err: unknown) => sendOpenAIError(res, asSwitchboardError(err)));
      return;
    }
    serveProxied(req, res, method, url, path, req);
  };

  // proxied responses get x-request-id in their writeHead (cheaper than setHeader here)
  const serveProxied = (req: ClientRequest, res: ClientResponse, method: string, url: string, path: string, read: Buffer | IncomingMessage): void => {
    // the raw front read it already; on node:http from rawHeaders (req.headers builds the whole object)
    const requestId = acceptRequestId(req.passHeaders !== undefined ? req.requestIdHeader : rawHeader(req.rawHeaders, 'x-request-id')) ?? newRequestId();
    const fail = (err: unknown): void => {
      const e = asSwitchboardError(err);
      if (!res.headersSent) res.setHeader('x-request-id', requestId);
      if (e.code === 'SB_ERR_INTERNAL') log.error({ err, requestId }, 'request failed');
      if (e.statusCode === 413) res.setHeader('connection', 'close');
      metrics.requests.labels('none', String(e.statusCode), '').inc();
      sendOpenAIError(res, e);
    };
    try {
      proxyRequest(req, res, method, url, path, requestId, read)?.catch(fail);
    } catch (err) {
      fail(err);
    }
  };

  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 }, handle);
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy(err);
  });
  // the listening socket: proxy-path requests are served on it directly, the rest go to `server`
  const front = new Front({
    http: server,
    claims: (method, path) => !routes.has(`${method} ${path}`),
    handle: (req, res, path, body) => serveProxied(req, res, req.method, req.url, path, body),
    maxBodyBytes: config.maxBodyBytes,
    keepAliveMs: 65_000,
    headersTimeoutMs: 60_000,
  });

  const RESTART_ONLY = ['host', 'port', 'registryUrl', 'registryToken', 'staticServices', 'rateLimitStore', 'dataDir', 'usageDb', 'maxBodyBytes', 'adminToken', 'insecure'] as const;
  const reload = (): { ok: true } | { ok: false; error: string } => {
    let next: RouterConfig;
    try {
      next = opts.reloadConfig ? opts.reloadConfig() : config;
      gateway.apply(next);
    } catch (err) {
      const error = asSwitchboardError(err).message;
      metrics.configReloads.labels('refused').inc();
      log.error({ error }, 'config reload refused; the previous configuration stays in force');
      return { ok: false, error };
    }
    const ignored = RESTART_ONLY.filter((k) => JSON.stringify(next[k]) !== JSON.stringify(config[k]));
    if (ignored.length > 0) log.warn({ keys: ignored }, 'config reload: these keys only change with a restart');
    config = next;
    proxy.config = next;
    table.config = next;
    metrics.configReloads.labels('applied').inc();
    log.info('config reloaded');
    return { ok: true };
  };
  let watchedMtime = 0;
  let reloadTimer: TimerHandle | undefined;
  const watchFile = (): void => {
    const file = opts.configFile;
    if (!file || config.reloadIntervalMs === 0) return;
    try {
      const m = statSync(file).mtimeMs;
      if (watchedMtime !== 0 && m !== watchedMtime) reload();
      watchedMtime = m;
    } catch {
      // a file being replaced; the next look finds it
    }
    reloadTimer = clock.setTimeout(watchFile, config.reloadIntervalMs);
  };

  let sweepTimer: TimerHandle | undefined;
  const sweep = (): void => {
    table.sweep();
    sweepTimer = clock.setTimeout(sweep, Math.max(1000, Math.min(config.removalGraceMs / 4, 10_000)));
  };

  const router: Router = {
    server,
    table,
    metrics,
    admin,
    events,
    routes,
    adminAllowed,
    gateway,
    get config() {
      return config;
    },
    reload,
    url: '',
    async listen() {
      const addr = await listen(front.server, config.host, config.port);
      router.url = urlOf(addr);
      discovery.start();
      health.start();
      sweep();
      watchFile();
      log.info({ url: router.url, registry: config.registryUrl ?? null, staticServices: table.backends.size, policy: config.policy }, 'listening');
      return router.url;
    },
    async close() {
      sweepTimer?.cancel();
      reloadTimer?.cancel();
      discovery.close();
      health.close();
      await front.close();
      await proxy.close();
      await gateway.close();
    },
  };
  mountDashboard(router, clock);
  return router;
}
