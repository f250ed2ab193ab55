// The contract every rate-limit store keeps (STYLE: one suite per pluggable family). Time is a
// ManualClock the harness advances, so refill is checked exactly, without sleeping.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { BucketSpec, RateLimitStore } from '../../src/gateway/index.js';

export interface StoreHarness {
  store: RateLimitStore;
  /** Moves the store's clock forward. */
  advance(ms: number): Promise<void>;
}

export type MakeStore = (t: TestContext) => Promise<StoreHarness | undefined>;

async function takeN(store: RateLimitStore, bucket: string, n: number, spec: BucketSpec, cost = 1): Promise<boolean[]> {
  const out: boolean[] = [];
  for (let i = 0; i < n; i++) out.push((await store.take(bucket, cost, spec)).allowed);
  return out;
}

export function rateLimitStoreContract(name: string, make: MakeStore): void {
  describe(`rate-limit store contract: ${name}`, () => {
    it('admits up to capacity, counting down, then refuses with the time until a token', async (t) => {
      const h = await make(t);
      if (!h) return;
      const spec = { capacity: 5, refillPerSecond: 1 };
      const remaining: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await h.store.take('b', 1, spec);
        assert.equal(r.allowed, true, `take ${i + 1} of 5`);
        assert.equal(r.retryAfterMs, 0);
        remaining.push(r.remaining);
      }
      assert.deepEqual(remaining, [4, 3, 2, 1, 0]);
      const denied = await h.store.take('b', 1, spec);
      assert.equal(denied.allowed, false);
      assert.equal(denied.remaining, 0);
      assert.equal(denied.retryAfterMs, 1000);
      assert.equal(denied.resetMs, 5000, 'empty bucket at 1/s is full again in 5 s');
    });

    it('refills at the given rate, never beyond capacity', async (t) => {
      const h = await make(t);
      if (!h) return;
      const spec = { capacity: 5, refillPerSecond: 2 };
      assert.deepEqual(await takeN(h.store, 'b', 6, spec), [true, true, true, true, true, false]);
      await h.advance(1000);
      assert.deepEqual(await takeN(h.store, 'b', 3, spec), [true, true, false], '2 tokens after 1 s at 2/s');
      await h.advance(500);
      const r = await h.store.take('b', 1, spec);
      assert.equal(r.allowed, true, 'one more after another 0.5 s');
      await h.advance(3_600_000);
      assert.deepEqual(await takeN(h.store, 'b', 6, spec), [true, true, true, true, true, false], 'an idle hour refills to capacity only');
    });

    it('takes a cost all or nothing: a refused take takes nothing', async (t) => {
      const h = await make(t);
      if (!h) return;
      const spec = { capacity: 10, refillPerSecond: 1 };
      assert.equal((await h.store.take('b', 8, spec)).remaining, 2);
      const r = await h.store.take('b', 3, spec);
      assert.equal(r.allowed, false);
      assert.equal(r.retryAfterMs, 1000, 'one token short at 1/s');
      assert.equal(r.remaining, 2, 'nothing taken');
      assert.equal((await h.store.take('b', 2, spec)).allowed, true);
    });

    it('refuses a cost above capacity outright (retry never), without emptying the bucket', async (t) => {
      const h = await make(t);
      if (!h) return;
      const spec = { capacity: 10, refillPerSecond: 1 };
      const r = await h.store.take('b', 11, spec);
      assert.equal(r.allowed, false);
      assert.equal(r.retryAfterMs, Infinity);
      assert.equal((await h.store.take('b', 10, spec)).allowed, true);
    });

    it('gives back unused tokens, capped at capacity', async (t) => {
      const h = await make(t);
      if (!h) return;
      const spec = { capacity: 10, refillPerSecond: 1 };
      await h.store.take('b', 6, spec);
      assert.equal((await h.store.take('b', 10, spec)).allowed, false);
      await h.store.give('b', 6, spec);
      assert.equal((await h.store.take('b', 10, spec)).allowed, true, 'the 6 came back');
      await h.store.give('b', 1000, spec);
      assert.deepEqual(await takeN(h.store, 'b', 2, spec, 10), [true, false], 'a big give fills to capacity, not beyond');
    });

    it('charges usage beyond a reservation as debt that later takes wait out (bounded by capacity)', async (t) => {
      const h = await make(t);
      if (!h) return;
      const spec = { capacity: 10, refillPerSecond: 1 };
      await h.store.take('b', 10, spec);
      await h.store.give('b', -5, spec);
      await h.advance(4000);
      const r = await h.store.take('b', 1, spec);
      assert.equal(r.allowed, false, 'still 1 token in debt after 4 s');
      assert.equal(r.retryAfterMs, 2000);
      assert.equal(r.remaining, 0);
      await h.store.give('b', -1_000_000, spec);
      await h.advance(10_000);
      assert.equal((await h.store.take('b', 1, spec)).allowed, false, 'debt floors at -capacity: 10 s only pays it off');
      await h.advance(1000);
      assert.equal((await h.store.take('b', 1, spec)).allowed, true);
    });

    it('never admits more than capacity to concurrent takes', async (t) => {
      const h = await make(t);
      if (!h) return;
      const spec = { capacity: 20, refillPerSecond: 0.001 };
      const results = await Promise.all(Array.from({ length: 60 }, () => h.store.take('b', 1, spec)));
      assert.equal(results.filter((r) => r.allowed).length, 20);
    });

    it('keeps buckets apart', async (t) => {
      const h = await make(t);
      if (!h) return;
      const spec = { capacity: 2, refillPerSecond: 1 };
      assert.deepEqual(await takeN(h.store, 'k:a:r', 3, spec), [true, true, false]);
      assert.deepEqual(await takeN(h.store, 'k:b:r', 3, spec), [true, true, false]);
    });

    it('applies a lowered capacity at once (a reloaded policy)', async (t) => {
      const h = await make(t);
      if (!h) return;
      await h.store.take('b', 1, { capacity: 100, refillPerSecond: 1 });
      const r = await h.store.take('b', 1, { capacity: 10, refillPerSecond: 1 });
      assert.equal(r.remaining, 9);
    });

    it('reports the time until the bucket is full again', async (t) => {
      const h = await make(t);
      if (!h) return;
      const spec = { capacity: 6, refillPerSecond: 2 };
      assert.equal((await h.store.take('b', 3, spec)).resetMs, 1500);
      await h.advance(500);
      assert.equal((await h.store.take('b', 0, spec)).resetMs, 1000);
    });
  });
}
