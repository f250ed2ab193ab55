// The in-process store (the default: one router). Buckets live in a Map; a bucket that has
// refilled completely is the same as no bucket, so such entries are swept out now and then
// and the Map holds only buckets in use.
import { systemClock, type Clock } from '../../core/index.js';
import { msToFull, refill, type BucketSpec, type RateLimitStore, type TakeResult } from './store.js';

interface Bucket {
  tokens: number;
  /** monotonic ms of the last update */
  ts: number;
  /** monotonic ms when it will be full (and may be forgotten) */
  fullAt: number;
}

const SWEEP_EVERY_OPS = 4096;

export interface MemoryStoreOptions {
  clock?: Clock;
}

export class MemoryRateLimitStore implements RateLimitStore {
  readonly kind = 'memory';
  readonly #buckets = new Map<string, Bucket>();
  readonly #clock: Clock;
  #ops = 0;

  constructor(opts: MemoryStoreOptions = {}) {
    this.#clock = opts.clock ?? systemClock;
  }

  take(bucket: string, cost: number, spec: BucketSpec): Promise<TakeResult> {
    return Promise.resolve(this.takeNow(bucket, cost, spec));
  }

  takeNow(bucket: string, cost: number, spec: BucketSpec): TakeResult {
    const now = this.#clock.monotonic();
    const b = this.#current(bucket, now, spec);
    let allowed = false;
    let retryAfterMs = 0;
    if (b.tokens >= cost) {
      b.tokens -= cost;
      allowed = true;
    } else {
      retryAfterMs = cost > spec.capacity ? Infinity : Math.ceil(((cost - b.tokens) * 1000) / spec.refillPerSecond);
    }
    const resetMs = msToFull(b.tokens, spec);
    b.fullAt = now + resetMs;
    return { allowed, remaining: Math.max(0, Math.floor(b.tokens)), retryAfterMs, resetMs };
  }

  give(bucket: string, amount: number, spec: BucketSpec): Promise<void> {
    this.giveNow(bucket, amount, spec);
    return Promise.resolve();
  }

  giveNow(bucket: string, amount: number, spec: BucketSpec): void {
    const now = this.#clock.monotonic();
    const b = this.#current(bucket, now, spec);
    b.tokens = Math.max(-spec.capacity, Math.min(spec.capacity, b.tokens + amount));
    b.fullAt = now + msToFull(b.tokens, spec);
  }

  close(): Promise<void> {
    this.#buckets.clear();
    return Promise.resolve();
  }

  /** Buckets held (for tests: idle ones are dropped). */
  get size(): number {
    return this.#buckets.size;
  }

  #current(name: string, now: number, spec: BucketSpec): Bucket {
    if (++this.#ops % SWEEP_EVERY_OPS === 0) this.#sweep(now);
    let b = this.#buckets.get(name);
    if (!b) {
      b = { tokens: spec.capacity, ts: now, fullAt: now };
      this.#buckets.set(name, b);
      return b;
    }
    // a lowered capacity applies at once: never hold more than the current spec allows
    b.tokens = Math.min(spec.capacity, refill(b.tokens, b.ts, now, spec));
    b.ts = now;
    return b;
  }

  #sweep(now: number): void {
    for (const [name, b] of this.#buckets) if (b.fullAt <= now) this.#buckets.delete(name);
  }

  /** Drops every bucket that is full by now (normally done every few thousand operations). */
  sweep(): void {
    this.#sweep(this.#clock.monotonic());
  }
}
