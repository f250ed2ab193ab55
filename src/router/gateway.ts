// The gateway policies on the request path, in order: API key (when a keys file is configured),
// alias / canary resolution, rate limits (requests and reserved tokens, settled when the response
// ends), and one usage record per request written off the request path. Everything here comes
// from the routing file and follows it on reload; a bad reload is refused and the old policy stays.
import { Buffer } from 'node:buffer';
import { asSwitchboardError, DAY_MS, rawHeader, type Clock, type Logger, type Random } from '../core/index.js';
import { estimateTokens, KeysWatcher, type KeyHeaders, NO_RATE_LIMITS, RATE_LIMIT_HEADER_PREFIX, parseRateLimits, RateLimiter, createRateLimitStore, type Admission, type RateLimitsConfig, type RateLimitStore } from '../gateway/index.js';
import { createUsageRecorder, registerUsageMetrics, type UsageRecorder } from '../gateway/usage/index.js';
import { Aliases } from './aliases.js';
import type { RouterConfig } from './config.js';
import type { RouterEvents } from './events.js';
import type { ClientRequest, Exchange } from './exchange.js';
import type { RouterMetrics } from './metrics.js';
import { sendOpenAIError } from './reply.js';
import { sessionKeyOf } from './request-info.js';
import type { ServiceTable } from './table.js';

export interface GatewayDeps {
  table: ServiceTable;
  metrics: RouterMetrics;
  events: RouterEvents;
  clock: Clock;
  random: Random;
  log: Logger;
}

/** The routing file's usage retention in ms (undefined: rows are kept). */
function retentionMs(config: RouterConfig): number | undefined {
  return config.usageRetentionDays === undefined ? undefined : config.usageRetentionDays * DAY_MS;
}

/** Settles an exchange's rate-limit reservation when it ends (one function for every exchange: no closure per request). */
function settleReservation(e: Exchange): void {
  void e.reservation?.settle(e.promptTokens + e.completionTokens);
}

/**
 * The two headers a key can come in, each read off the request when asked: x-api-key is only
 * looked for when there is no Authorization (a look for an absent header reads every line).
 */
class RequestKeyHeaders implements KeyHeaders {
  constructor(private readonly req: ClientRequest) {}

  get authorization(): string | undefined {
    return readHeader(this.req, 'authorization');
  }

  get 'x-api-key'(): string | undefined {
    return readHeader(this.req, 'x-api-key');
  }
}

function readHeader(req: ClientRequest, name: string): string | undefined {
  return req.header ? req.header(name) : rawHeader(req.rawHeaders, name);
}

export class Gateway {
  readonly aliases: Aliases;
  keys: KeysWatcher | undefined;
  #keysFile: string | undefined;
  #sessionHeader = 'x-session-id';
  #limits: RateLimitsConfig = NO_RATE_LIMITS;
  #limited = false;
  #store: RateLimitStore | undefined;
  #limiter: RateLimiter | undefined;
  usage: UsageRecorder | undefined;

  private constructor(private readonly deps: GatewayDeps) {
    this.aliases = new Aliases(deps.clock, deps.random, deps.log, deps.events);
  }

  /** Builds the policies of a config (throws a catalog error naming the problem). */
  static async create(config: RouterConfig, deps: GatewayDeps): Promise<Gateway> {
    const g = new Gateway(deps);
    g.apply(config);
    g.#store = createRateLimitStore(config.rateLimitStore, { clock: deps.clock });
    g.#limiter = new RateLimiter({
      config: g.#limits,
      store: g.#store,
      logger: deps.log,
      onStateChange: (s) => deps.metrics.rateLimitStoreUp.set(s === 'ok' ? 1 : 0),
    });
    deps.metrics.rateLimitStoreUp.set(1);
    if (!config.dataDir && config.usageRetentionDays !== undefined) {
      deps.log.warn({ usageRetentionDays: config.usageRetentionDays }, 'usageRetentionDays has no effect: usage records are off (no dataDir)');
    }
    if (config.dataDir) {
      g.usage = await createUsageRecorder({ dataDir: config.dataDir, url: config.usageDb, retentionMs: retentionMs(config), clock: deps.clock, random: deps.random, logger: deps.log });
      registerUsageMetrics(deps.metrics.registry, g.usage);
    }
    deps.events.onRequest((ex) => g.aliases.observe(ex));
    return g;
  }

  /**
   * Applies the reloadable parts of a config. Everything is validated before anything changes,
   * so a refused config leaves the old policy whole.
   */
  apply(config: RouterConfig): void {
    const limits = config.rateLimits ? parseRateLimits(config.rateLimits, 'rateLimits in the routing file') : NO_RATE_LIMITS;
    let keys = this.keys;
    if (config.keysFile !== this.#keysFile) {
      keys = config.keysFile ? KeysWatcher.start({ path: config.keysFile, clock: this.deps.clock, logger: this.deps.log }) : undefined;
      this.keys?.close();
    }
    this.keys = keys;
    this.#keysFile = config.keysFile;
    this.#sessionHeader = config.sessionHeader;
    this.#limits = limits;
    this.#limited = config.rateLimits !== undefined;
    this.#limiter?.update(limits);
    this.aliases.update(config.aliases);
    this.usage?.setRetention(retentionMs(config));
  }

  /** Whether any policy is configured (else the request path skips the gateway). */
  get active(): boolean {
    return this.keys !== undefined || this.#limited || this.usage !== undefined || this.aliases.any;
  }

  /**
   * The policy run for every proxied request: true to go on, false when it answered the request
   * itself. Synchronous unless a rate limit has to ask its store.
   */
  readonly policy = (ex: Exchange): boolean | Promise<boolean> => {
    const { table } = this.deps;
    const asked = ex.info.model;
    // 1. API key
    let keyLimits: { rpm?: number; tpm?: number } | undefined;
    if (this.keys) {
      try {
        const key = this.keys.current().authorize(new RequestKeyHeaders(ex.req), asked);
        ex.keyName = key.name;
        keyLimits = key.limits;
      } catch (err) {
        const e = asSwitchboardError(err);
        ex.status = e.statusCode;
        sendOpenAIError(ex.res, e, { 'x-request-id': ex.requestId });
        return false;
      }
    }
    // 2. alias / canary
    if (asked !== undefined && this.aliases.has(asked)) {
      const r = this.aliases.resolve(asked, { key: ex.keyName, session: sessionKeyOf(ex.req, ex.info, this.#sessionHeader) });
      ex.model = r.model;
      ex.variant = r.variant;
      if (r.model !== asked && ex.info.body) {
        ex.body = Buffer.from(JSON.stringify({ ...ex.info.body, model: r.model }));
      }
      ex.modelLabel = table.servingModel(r.model).length > 0 ? asked : 'unknown';
    }
    // 3. usage record
    if (this.usage) ex.onEnd.push(this.#recordUsage);
    // 4. rate limits: only for models something serves (invented names would make buckets)
    if (this.#limited && this.#limiter && ex.model !== undefined && table.servingModel(ex.model).length > 0) {
      return this.#admit(ex, this.#limiter, keyLimits);
    }
    return true;
  };

  /** One usage record when an exchange ends (one function for every exchange: no closure per request). */
  readonly #recordUsage = (e: Exchange): void => {
    this.usage?.record({
      ts: e.startMs,
      requestId: e.requestId,
      keyName: e.keyName ?? null,
      model: e.info.model ?? e.model ?? '',
      variant: e.variant === '' ? null : e.variant,
      backend: e.backend?.name ?? null,
      status: e.clientGone && e.status === 0 ? 499 : e.status,
      promptTokens: e.promptTokens,
      completionTokens: e.completionTokens,
      ttftMs: e.ttftMs === undefined ? null : Math.round(e.ttftMs),
      durationMs: Math.round(this.deps.clock.monotonic() - e.startMono),
      endpoint: e.path,
    });
  };

  /** Asks the limiter; synchronous with the in-process store, a promise with Redis. */
  #admit(ex: Exchange, limiter: RateLimiter, keyLimits: { rpm?: number; tpm?: number } | undefined): boolean | Promise<boolean> {
    const estimated = estimateTokens(ex.info.body, { defaultMaxTokens: this.#limits.defaultMaxTokens, charsPerToken: this.#limits.charsPerToken });
    const req = { keyName: ex.keyName, keyLimits, model: ex.info.model ?? ex.model!, estimatedTokens: estimated };
    const now = limiter.admitNow(req);
    if (now) return this.#apply(ex, now);
    return limiter.admit(req).then((adm) => this.#apply(ex, adm));
  }

  /** Rate-limit headers on the response; a refusal answered here (false). */
  #apply(ex: Exchange, adm: Admission): boolean {
    if (!adm.allowed) {
      for (const k in adm.headers) ex.res.setHeader(k, adm.headers[k]!);
      this.deps.metrics.rateLimitDrops.labels(adm.reason === 'limited' ? adm.scope : 'unavailable').inc();
      const err = adm.error();
      ex.status = err.statusCode;
      sendOpenAIError(ex.res, err, { 'x-request-id': ex.requestId });
      return false;
    }
    if (adm.lines !== '') {
      ex.ownHeaderPrefix = RATE_LIMIT_HEADER_PREFIX;
      // the raw front takes the lines as they are; node's response a header at a time
      if (ex.res.addHeaderLines) ex.res.addHeaderLines(adm.lines);
      else for (const k in adm.headers) ex.res.setHeader(k, adm.headers[k]!);
    }
    ex.reservation = adm;
    ex.onEnd.push(settleReservation);
    return true;
  }

  status(): Record<string, unknown> {
    return {
      keys: this.keys ? this.keys.stats() : null,
      rateLimits: this.#limited ? { store: this.#store?.kind, state: this.#limiter?.state(), counters: this.#limiter?.counters() } : null,
      usage: this.usage ? this.usage.status() : null,
      aliases: this.aliases.state(),
    };
  }

  async close(): Promise<void> {
    this.keys?.close();
    await this.#limiter?.close();
    await this.usage?.close();
  }
}
