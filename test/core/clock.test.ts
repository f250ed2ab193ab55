import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { acceptRequestId, backoffDelay, ManualClock, newRequestId, parseDuration, seededRandom } from '../../src/core/index.js';

describe('ManualClock', () => {
  it('fires timers in time order only when advanced', async () => {
    const clock = new ManualClock(1000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b'), 200);
    clock.setTimeout(() => fired.push('a'), 100);
    const cancelled = clock.setTimeout(() => fired.push('never'), 150);
    cancelled.cancel();
    await clock.advance(99);
    assert.deepEqual(fired, []);
    await clock.advance(101);
    assert.deepEqual(fired, ['a', 'b']);
    assert.equal(clock.now(), 1200);
  });

  it('resolves sleep() when time passes', async () => {
    const clock = new ManualClock();
    let done = false;
    const p = clock.sleep(50).then(() => (done = true));
    await clock.advance(49);
    assert.equal(done, false);
    await clock.advance(1);
    await p;
    assert.equal(done, true);
  });
});

describe('seeded randomness and back-off', () => {
  it('is deterministic under a seed', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = Array.from({ length: 5 }, () => a.next());
    assert.deepEqual(xs, Array.from({ length: 5 }, () => b.next()));
    assert.ok(xs.every((x) => x >= 0 && x < 1));
  });

  it('keeps back-off within [base/2, min(cap, base*2^n)]', () => {
    const r = seededRandom(1);
    for (let n = 0; n < 20; n++) {
      const d = backoffDelay(r, n, 100, 5000);
      assert.ok(d >= 50 && d <= Math.min(5000, 100 * 2 ** n), `attempt ${n}: ${d}`);
    }
  });
});

describe('durations and request ids', () => {
  it('parses durations with units and bare seconds', () => {
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('5'), 5000);
    assert.equal(parseDuration('5', 'ms'), 5);
    assert.equal(parseDuration('soon'), undefined);
  });

  it('generates unique ids and accepts only sane client ids', () => {
    const ids = new Set(Array.from({ length: 1000 }, newRequestId));
    assert.equal(ids.size, 1000);
    assert.equal(acceptRequestId('abc-123'), 'abc-123');
    assert.equal(acceptRequestId('has space'), undefined);
    assert.equal(acceptRequestId('x'.repeat(129)), undefined);
    assert.equal(acceptRequestId(''), undefined);
  });
});
