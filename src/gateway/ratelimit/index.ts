import { sbError, type Clock } from '../../core/index.js';
import { MemoryRateLimitStore } from './memory.js';
import { RedisRateLimitStore } from './redis.js';
import type { RateLimitStore } from './store.js';

export * from './config.js';
export * from './estimate.js';
export * from './headers.js';
export * from './limiter.js';
export * from './memory.js';
export * from './redis.js';
export * from './store.js';

export interface CreateStoreOptions {
  /** Key prefix in Redis. */
  prefix?: string;
  commandTimeoutMs?: number;
  /** Memory store: its clock. (Redis uses its own TIME.) */
  clock?: Clock;
}

/** "memory" (default, one process) or a redis:// / rediss:// URL shared by several routers. */
export function createRateLimitStore(spec: string | undefined, opts: CreateStoreOptions = {}): RateLimitStore {
  if (spec === undefined || spec === '' || spec === 'memory') return new MemoryRateLimitStore(opts.clock ? { clock: opts.clock } : {});
  if (/^rediss?:\/\//.test(spec)) {
    return new RedisRateLimitStore({ url: spec, ...(opts.prefix ? { prefix: opts.prefix } : {}), ...(opts.commandTimeoutMs ? { commandTimeoutMs: opts.commandTimeoutMs } : {}) });
  }
  throw sbError('SB_ERR_CONFIG_INVALID', 'rate-limit store', `expected "memory" or a redis:// URL, got '${spec}'`);
}
