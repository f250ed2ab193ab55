// The Redis store: several registries share one Redis and serve the same records; a record that
// stops heartbeating expires through Redis's own key TTL even when no registry is running.
// Commands fail fast while Redis is unreachable (no offline queue), so the API answers 503 at once
// instead of hanging, and the connection recovers by itself.
import { Redis } from '../../core/redis.js';
import { describeError, sbErrorFrom, silentLogger, type Logger } from '../../core/index.js';
import type { HealthStatus, HeartbeatInput, ServiceLoad, ServicePatch, StoredService } from '../record.js';
import { SCRIPTS, type ScriptName } from './redis-scripts.js';
import { StoreEmitter, type RegistryStore, type StoreListener, type StoreTiming } from './store.js';

export interface RedisStoreOptions extends StoreTiming {
  url: string;
  prefix: string;
  logger?: Logger;
}

type Fields = Record<string, string>;
type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

interface Persisted {
  name: string;
  host: string;
  port: number;
  hostname: string;
  url: string;
  timestamp: string;
  metadata: Record<string, unknown>;
}

function persisted(s: Pick<StoredService, keyof Persisted>): string {
  const p: Persisted = { name: s.name, host: s.host, port: s.port, hostname: s.hostname, url: s.url, timestamp: s.timestamp, metadata: s.metadata };
  return JSON.stringify(p);
}

function fromParts(rec: Persisted, status: string, hb: number, health: string, ttl: number, load: ServiceLoad | null | undefined): StoredService {
  const s: StoredService = { ...rec, status, lastHeartbeatMs: hb, healthStatus: health as HealthStatus, leaseTtlMs: ttl };
  if (load) s.load = load;
  return s;
}

function fromHash(h: Fields): StoredService | undefined {
  if (!h.rec) return undefined;
  return fromParts(JSON.parse(h.rec) as Persisted, h.status ?? '', Number(h.hb), h.health ?? 'unknown', Number(h.ttl), h.load ? (JSON.parse(h.load) as ServiceLoad) : undefined);
}

interface EventMessage {
  i?: number;
  t: 'u' | 'd' | 'l';
  n: string;
  rec?: Persisted;
  s?: string;
  hb?: number;
  h?: string;
  ttl?: number;
  l?: ServiceLoad | null;
}

const REDIS_OPTIONS = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2000,
  retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
} as const;

export class RedisStore implements RegistryStore {
  readonly kind = 'redis';
  #index = 0;
  readonly #redis: Redis;
  readonly #sub: Redis;
  readonly #emitter = new StoreEmitter();
  readonly #opts: RedisStoreOptions;
  readonly #log: Logger;
  readonly #channel: string;
  #subscribedOnce = false;

  private constructor(opts: RedisStoreOptions) {
    this.#opts = opts;
    this.#log = opts.logger ?? silentLogger;
    this.#channel = `${opts.prefix}:events`;
    this.#redis = new Redis(opts.url, { ...REDIS_OPTIONS, lazyConnect: true });
    this.#sub = new Redis(opts.url, { ...REDIS_OPTIONS, lazyConnect: true, enableOfflineQueue: true });
    for (const [name, lua] of Object.entries(SCRIPTS)) this.#redis.defineCommand(name, { numberOfKeys: 0, lua });
    this.#redis.on('error', (err) => this.#log.warn({ err: describeError(err) }, 'registry redis connection error'));
    this.#sub.on('error', (err) => this.#log.warn({ err: describeError(err) }, 'registry redis subscriber error'));
    this.#sub.on('message', (_channel: string, text: string) => this.#onMessage(text));
    this.#sub.on('ready', () => void this.#onSubscriberReady());
  }

  /** Connects (waiting up to 2 s); a Redis that is down now is retried in the background. */
  static async connect(opts: RedisStoreOptions): Promise<RedisStore> {
    const store = new RedisStore(opts);
    await Promise.all([store.#redis.connect().catch(() => undefined), store.#sub.connect().catch(() => undefined)]);
    await store.#sub.subscribe(store.#channel).catch(() => undefined);
    try {
      store.#index = Number(await store.#redis.get(`${opts.prefix}:index`)) || 0;
    } catch (err) {
      store.#log.error({ err: describeError(err), url: redactUrl(opts.url) }, 'registry redis unreachable at start; retrying in the background');
    }
    return store;
  }

  get index(): number {
    return this.#index;
  }

  async get(name: string): Promise<StoredService | undefined> {
    return fromHash(await this.#call(() => this.#redis.hgetall(this.#key(name))));
  }

  async list(): Promise<StoredService[]> {
    const names = await this.#call(() => this.#redis.zrange(`${this.#opts.prefix}:names`, '0', '-1'));
    if (names.length === 0) return [];
    const pipe = this.#redis.pipeline();
    for (const n of names) pipe.hgetall(this.#key(n));
    const results = (await this.#call(() => pipe.exec())) ?? [];
    const out: StoredService[] = [];
    for (const [err, h] of results) {
      if (err) throw sbErrorFrom(err, 'SB_ERR_STORE_UNAVAILABLE', 'redis', describeError(err));
      const s = fromHash(h as Fields);
      if (s) out.push(s);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async register(s: StoredService): Promise<void> {
    await this.#script('sbRegister', s.name, persisted(s), s.status, s.lastHeartbeatMs, s.healthStatus, s.leaseTtlMs, this.#opts.cleanupAgeMs);
  }

  async update(name: string, patch: ServicePatch, nowMs: number): Promise<StoredService | undefined> {
    // compare-and-set on the record document: a concurrent PUT elsewhere makes us re-read
    for (let attempt = 0; attempt < 5; attempt++) {
      const h = await this.#call(() => this.#redis.hgetall(this.#key(name)));
      const cur = fromHash(h);
      if (!cur) return undefined;
      const next = { ...cur, ...patch };
      const r = Number(await this.#script('sbUpdate', name, h.rec!, persisted(next), patch.status ?? '', nowMs, patch.leaseTtlMs ?? '', this.#opts.cleanupAgeMs));
      if (r === -1) return undefined;
      if (r !== -2) return { ...next, lastHeartbeatMs: nowMs };
    }
    throw sbErrorFrom(new Error('record kept changing'), 'SB_ERR_STORE_UNAVAILABLE', 'redis', `concurrent updates to '${name}'; try again`);
  }

  async heartbeat(name: string, input: HeartbeatInput, nowMs: number): Promise<boolean> {
    const load = input.load ? JSON.stringify({ ...input.load, updated_at: nowMs / 1000 }) : '';
    return Number(await this.#script('sbHeartbeat', name, nowMs, input.status ?? '', load, this.#opts.cleanupAgeMs)) !== -1;
  }

  async setHealth(name: string, status: HealthStatus, refreshHeartbeatMs?: number): Promise<boolean> {
    return Number(await this.#script('sbSetHealth', name, status, refreshHeartbeatMs ?? '', this.#opts.cleanupAgeMs)) !== -1;
  }

  async remove(name: string): Promise<boolean> {
    return Number(await this.#script('sbRemove', name)) === 1;
  }

  async expireLeases(nowMs: number): Promise<string[]> {
    return (await this.#script('sbExpireLeases', nowMs)) as string[];
  }

  async cleanup(nowMs: number): Promise<string[]> {
    return (await this.#script('sbCleanup', nowMs, this.#opts.cleanupAgeMs)) as string[];
  }

  subscribe(listener: StoreListener): () => void {
    return this.#emitter.subscribe(listener);
  }

  async tryLead(holder: string, ttlMs: number): Promise<boolean> {
    return Number(await this.#script('sbLead', holder, ttlMs)) === 1;
  }

  async ping(): Promise<void> {
    await this.#call(() => this.#redis.ping());
  }

  async close(): Promise<void> {
    this.#sub.disconnect();
    this.#redis.disconnect();
    return Promise.resolve();
  }

  #key(name: string): string {
    return `${this.#opts.prefix}:svc:${name}`;
  }

  #script(name: ScriptName, ...args: (string | number)[]): Promise<unknown> {
    const fn = (this.#redis as unknown as Record<ScriptName, ScriptFn>)[name].bind(this.#redis);
    return this.#call(() => fn(this.#opts.prefix, ...args));
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw sbErrorFrom(err, 'SB_ERR_STORE_UNAVAILABLE', 'redis', describeError(err));
    }
  }

  async #onSubscriberReady(): Promise<void> {
    if (!this.#subscribedOnce) {
      this.#subscribedOnce = true;
      return;
    }
    // Reconnected: events published while we were away are lost; tell consumers to rebuild.
    try {
      this.#index = Math.max(this.#index, Number(await this.#redis.get(`${this.#opts.prefix}:index`)) || 0);
    } catch {
      // the index catches up with the next event
    }
    this.#log.info({ index: this.#index }, 'registry redis subscriber reconnected; resyncing watchers');
    this.#emitter.emit({ type: 'resync', index: this.#index });
  }

  #onMessage(text: string): void {
    let m: EventMessage;
    try {
      m = JSON.parse(text) as EventMessage;
    } catch {
      this.#log.warn({ text: text.slice(0, 200) }, 'registry redis: unreadable event ignored');
      return;
    }
    if (m.t === 'l') {
      if (m.l) this.#emitter.emit({ type: 'load', name: m.n, load: m.l });
      return;
    }
    const index = m.i ?? 0;
    if (index <= this.#index && index !== 0) return; // seen (an index read after a reconnect)
    this.#index = Math.max(this.#index, index);
    if (m.t === 'd') this.#emitter.emit({ type: 'delete', index, name: m.n });
    else if (m.rec) this.#emitter.emit({ type: 'upsert', index, service: fromParts(m.rec, m.s ?? '', Number(m.hb), m.h ?? 'unknown', Number(m.ttl), m.l) });
  }
}

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[invalid url]';
  }
}
