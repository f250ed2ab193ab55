// The rate-limit store contract: token buckets addressed by name, each operation atomic in the
// store. Two stores keep it (test/gateway/ratelimit-contract.ts runs the same suite on both):
// memory.ts (one process) and redis.ts (several routers sharing limits).

/** A bucket's shape, passed with every call so a config reload takes effect at once. */
export interface BucketSpec {
  /** Most tokens the bucket holds (the burst). */
  capacity: number;
  /** Tokens added per second (> 0). */
  refillPerSecond: number;
}

export interface TakeResult {
  /** Whether `cost` tokens were taken. A denied take takes nothing. */
  allowed: boolean;
  /** Whole tokens left after this call (0 when in debt). */
  remaining: number;
  /** When denied: ms until `cost` tokens will be there (Infinity when cost > capacity); else 0. */
  retryAfterMs: number;
  /** ms until the bucket is full again (OpenAI's x-ratelimit-reset-*). */
  resetMs: number;
}

export interface RateLimitStore {
  readonly kind: 'memory' | 'redis';
  /** Takes `cost` tokens if they are there (refilling first), all or nothing. */
  take(bucket: string, cost: number, spec: BucketSpec): Promise<TakeResult>;
  /**
   * Adds `amount` tokens back (an unused reservation), capped at capacity. A negative amount
   * charges usage beyond a reservation without an admission check: the bucket may go into
   * debt (down to -capacity), which later requests wait out.
   */
  give(bucket: string, amount: number, spec: BucketSpec): Promise<void>;
  /** take() answered on the spot, for a store that needs no I/O (the in-process one); the limiter then skips the promises. */
  takeNow?(bucket: string, cost: number, spec: BucketSpec): TakeResult;
  /** give() on the spot, as takeNow. */
  giveNow?(bucket: string, amount: number, spec: BucketSpec): void;
  close(): Promise<void>;
}

/** The bucket after refilling from `tokens` at `ts` to `now` (shared by the memory store and tests). */
export function refill(tokens: number, ts: number, now: number, spec: BucketSpec): number {
  if (now <= ts) return tokens;
  return Math.min(spec.capacity, tokens + ((now - ts) * spec.refillPerSecond) / 1000);
}

export function msToFull(tokens: number, spec: BucketSpec): number {
  return tokens >= spec.capacity ? 0 : Math.ceil(((spec.capacity - tokens) * 1000) / spec.refillPerSecond);
}
