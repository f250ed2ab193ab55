// The registry process: store + change feed + probes + lease and clean-up loops + HTTP API.
// Unlike the original, whose background loops never ran (reference §1.4), all of these run.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  acceptRequestId,
  asSwitchboardError,
  bearerChecker,
  closeServer,
  describeError,
  isLoopback,
  listen,
  newRequestId,
  sbError,
  silentLogger,
  splitUrl,
  systemClock,
  systemRandom,
  urlOf,
  type Clock,
  type Logger,
  type Random,
  type TimerHandle,
} from '../core/index.js';
import { isWrite, reply, routes, type Exchange, type RegistryDeps } from './api.js';
import type { RegistryConfig } from './config.js';
import { ChangeFeed } from './feed.js';
import { createRegistryMetrics } from './metrics.js';
import { Prober } from './prober.js';
import { createStore, redactUrl, type RegistryStore } from './store/index.js';

export interface RegistryOptions {
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  /** A store built by the caller (tests); otherwise config.store decides. */
  store?: RegistryStore;
}

export interface Registry {
  readonly store: RegistryStore;
  readonly feed: ChangeFeed;
  /** Listens on config.host:config.port; resolves with the base URL. */
  listen(): Promise<string>;
  readonly url: string | undefined;
  close(): Promise<void>;
}

export async function buildRegistry(config: RegistryConfig, opts: RegistryOptions = {}): Promise<Registry> {
  if (!config.token && !config.insecure && !isLoopback(config.host)) throw sbError('SB_ERR_INSECURE_BIND', config.host, 'the registry');
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? systemRandom;
  const log = opts.logger ?? silentLogger;
  const store = opts.store ?? (await createStore(config, log));
  const feed = new ChangeFeed(store, clock, config.feedBufferSize);
  const metrics = createRegistryMetrics(feed);
  const prober = new Prober(store, {
    intervalMs: config.healthIntervalMs,
    timeoutMs: config.healthTimeoutMs,
    rise: config.probeRise,
    fall: config.probeFall,
    concurrency: config.probeConcurrency,
    clock,
    random,
    logger: log,
    onProbe: (ok) => (ok ? metrics.probeOk : metrics.probeFail).inc(),
  });
  const deps: RegistryDeps = { config, store, feed, prober, metrics, clock, log, startedAtMs: clock.now() };
  const tokenOk = config.token ? bearerChecker(config.token) : undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const t0 = clock.monotonic();
    const method = req.method ?? 'GET';
    const { path, query } = splitUrl(req.url);
    const requestId = acceptRequestId(req.headers['x-request-id'] as string | undefined) ?? newRequestId();
    const x: Exchange = { req, res, path, query, requestId, deps };
    const match = routes.match(method, path);
    const route = match && match !== 'method-not-allowed' ? match.pattern : 'unmatched';
    try {
      if (!match) throw sbError('SB_ERR_NOT_FOUND', method, path);
      if (match === 'method-not-allowed') throw sbError('SB_ERR_METHOD_NOT_ALLOWED', method, path);
      if (tokenOk && isWrite(method) && !tokenOk(req)) {
        throw sbError('SB_ERR_UNAUTHORIZED', 'This registry requires a token for writes: send Authorization: Bearer <token>');
      }
      await match.handler(x, match.params);
    } catch (err) {
      const e = asSwitchboardError(err);
      if (e.statusCode >= 500) log.error({ err: e.cause ?? e, requestId, method, path }, e.message);
      if (res.headersSent) res.destroy();
      else reply(x, e.statusCode, { error: e.message, code: e.code }, e.statusCode === 413 ? { connection: 'close' } : undefined);
    } finally {
      metrics.request(method, route, res.statusCode, (clock.monotonic() - t0) / 1000);
    }
  };
  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => void handle(req, res));

  const timers: TimerHandle[] = [];
  let closed = false;
  const every = (ms: number, what: string, fn: () => Promise<void>): void => {
    const tick = (): void => {
      if (closed) return;
      fn()
        .catch((err: unknown) => log.warn({ err: describeError(err) }, `${what} skipped`))
        .finally(() => {
          if (!closed) timers.push(clock.setTimeout(tick, ms));
        });
    };
    timers.push(clock.setTimeout(tick, ms));
  };
  every(config.leaseCheckIntervalMs, 'lease check', async () => {
    for (const name of await store.expireLeases(clock.now())) log.warn({ service: name }, `lease of ${name} lapsed: no heartbeat for its lease time`);
  });
  every(config.cleanupIntervalMs, 'clean-up', async () => {
    const removed = await store.cleanup(clock.now());
    for (const name of removed) log.info({ service: name }, `Removed stale service: ${name}`);
    metrics.expired.inc(removed.length);
  });
  if (config.probes) prober.start();

  let url: string | undefined;
  return {
    store,
    feed,
    get url() {
      return url;
    },
    async listen() {
      url = urlOf(await listen(server, config.host, config.port));
      log.info({ url, storeUrl: store.kind === 'redis' ? redactUrl(config.store) : 'memory', dataDir: config.dataDir }, 'listening');
      return url;
    },
    async close() {
      closed = true;
      for (const t of timers) t.cancel();
      prober.close();
      feed.close();
      await closeServer(server, 1000);
      await store.close();
      metrics.close();
    },
  };
}
