// The Redis store: routers that share one Redis share their limits. Each operation is one Lua
// script, so the refill, the check and the take happen atomically in Redis: two routers can
// never both take the last token. Time comes from Redis itself (TIME) by default, so routers
// whose clocks disagree still refill a bucket at one rate; a Clock may be passed instead (tests
// drive it by hand). A bucket expires when it would be full again, so idle keys leave Redis.
// Commands fail fast while Redis is away (no offline queue, a short command timeout): the
// limiter then fails open or closed, and ioredis reconnects in the background.
import { Redis } from '../../core/redis.js';
import { describeError, sbErrorFrom, type Clock } from '../../core/index.js';
import type { BucketSpec, RateLimitStore, TakeResult } from './store.js';

// KEYS[1] = the bucket (hash: tk = tokens, ts = ms of last update)
// ARGV = amount, capacity, refill per second, now ms ('' = use Redis TIME). The arithmetic is the
// memory store's, operation for operation, so both give the same answers to the contract suite.
const PRELUDE = `
local amount = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local now
if ARGV[4] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[4])
end
local h = redis.call('HMGET', KEYS[1], 'tk', 'ts')
local tokens = tonumber(h[1])
local ts = tonumber(h[2])
if tokens == nil or ts == nil then
  tokens = cap
  ts = now
elseif now > ts then
  -- time only moves forward for a bucket: a router whose passed clock lags refills nothing
  tokens = tokens + ((now - ts) * rate) / 1000
  ts = now
end
if tokens > cap then tokens = cap end
local function save()
  if tokens >= cap then
    redis.call('DEL', KEYS[1]) -- a full bucket is the same as none
    return 0
  end
  local reset = math.ceil(((cap - tokens) * 1000) / rate)
  redis.call('HSET', KEYS[1], 'tk', string.format('%.17g', tokens), 'ts', string.format('%.17g', ts))
  redis.call('PEXPIRE', KEYS[1], reset + 1000)
  return reset
end
`;

const TAKE = `${PRELUDE}
local allowed = 0
local retry = 0
if tokens >= amount then
  tokens = tokens - amount
  allowed = 1
elseif amount > cap then
  retry = -1
else
  retry = math.ceil(((amount - tokens) * 1000) / rate)
end
local reset = save()
local remaining = math.floor(tokens)
if remaining < 0 then remaining = 0 end
return {allowed, remaining, retry, reset}`;

const GIVE = `${PRELUDE}
tokens = tokens + amount
if tokens < -cap then tokens = -cap end
if tokens > cap then tokens = cap end
save()
return 1`;

type ScriptFn = (key: string, ...args: (string | number)[]) => Promise<unknown>;

export interface RedisRateLimitStoreOptions {
  url: string;
  /** Key prefix, so several fleets can share one Redis. Default "switchboard:rl". */
  prefix?: string;
  /** Per-command timeout: a Redis that hangs costs a request at most this. Default 250. */
  commandTimeoutMs?: number;
  /** Take time from this clock instead of Redis TIME (tests; all routers must then agree on time). */
  clock?: Clock;
}

export class RedisRateLimitStore implements RateLimitStore {
  readonly kind = 'redis';
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #clock: Clock | undefined;
  readonly #take: ScriptFn;
  readonly #give: ScriptFn;
  #lastError: string | undefined;

  constructor(opts: RedisRateLimitStoreOptions) {
    this.#prefix = opts.prefix ?? 'switchboard:rl';
    this.#clock = opts.clock;
    this.#redis = new Redis(opts.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 1000,
      commandTimeout: opts.commandTimeoutMs ?? 250,
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
      lazyConnect: true,
    });
    // ioredis reports every failed reconnect; the limiter logs state changes once instead.
    this.#redis.on('error', (err: unknown) => {
      this.#lastError = describeError(err);
    });
    this.#redis.defineCommand('sbRlTake', { numberOfKeys: 1, lua: TAKE });
    this.#redis.defineCommand('sbRlGive', { numberOfKeys: 1, lua: GIVE });
    const r = this.#redis as unknown as Record<'sbRlTake' | 'sbRlGive', ScriptFn>;
    this.#take = r.sbRlTake.bind(this.#redis);
    this.#give = r.sbRlGive.bind(this.#redis);
    this.#redis.connect().catch(() => undefined); // retried in the background
  }

  /** Resolves true once connected (false after timeoutMs); for start-up logs and tests. */
  async ready(timeoutMs = 2000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#redis.status !== 'ready') {
      if (Date.now() > deadline || this.#redis.status === 'end') return false;
      await new Promise((r) => setTimeout(r, 10));
    }
    return true;
  }

  /** "ready" when commands can be sent now. */
  get status(): string {
    return this.#redis.status;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  async take(bucket: string, cost: number, spec: BucketSpec): Promise<TakeResult> {
    let r: [number, number, number, number];
    try {
      r = (await this.#take(`${this.#prefix}:${bucket}`, cost, spec.capacity, spec.refillPerSecond, this.#now())) as [number, number, number, number];
    } catch (err) {
      throw sbErrorFrom(err, 'SB_ERR_RATE_LIMIT_UNAVAILABLE', `redis: ${describeError(err)}`);
    }
    return { allowed: r[0] === 1, remaining: r[1], retryAfterMs: r[2] < 0 ? Infinity : r[2], resetMs: r[3] };
  }

  async give(bucket: string, amount: number, spec: BucketSpec): Promise<void> {
    try {
      await this.#give(`${this.#prefix}:${bucket}`, amount, spec.capacity, spec.refillPerSecond, this.#now());
    } catch (err) {
      throw sbErrorFrom(err, 'SB_ERR_RATE_LIMIT_UNAVAILABLE', `redis: ${describeError(err)}`);
    }
  }

  close(): Promise<void> {
    this.#redis.disconnect();
    return Promise.resolve();
  }

  #now(): string {
    return this.#clock ? String(this.#clock.now()) : '';
  }
}
