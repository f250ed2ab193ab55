import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideRestart } from '../../src/agent/restart-policy.js';
import type { Random } from '../../src/core/index.js';

const policy = { maxRestarts: 3, restartDelayMs: 1000, maxRestartDelayMs: 5000, stableAfterMs: 60_000 };
const top: Random = { next: () => 0.999999 }; // the largest delay the jitter allows
const bottom: Random = { next: () => 0 };

describe('restart policy', () => {
  it('backs off exponentially up to the ceiling (upper bound of the jitter)', () => {
    const delays = [0, 1, 2, 3].map((streak) => decideRestart({ ...policy, maxRestarts: 10 }, streak, undefined, top));
    assert.deepEqual(delays.map((d) => (d.action === 'restart' ? d.delayMs : -1)), [1000, 2000, 4000, 5000]);
    assert.deepEqual(delays.map((d) => d.streak), [1, 2, 3, 4]);
  });

  it('never restarts at once: the jitter floor is half the base delay', () => {
    const d = decideRestart(policy, 2, undefined, bottom);
    assert.deepEqual(d, { action: 'restart', streak: 3, delayMs: 500 });
  });

  it('fails after max_restarts restarts in a row (the originals: max_restarts restarts happen)', () => {
    const table: [number, string][] = [
      [0, 'restart'],
      [1, 'restart'],
      [2, 'restart'],
      [3, 'fail'],
    ];
    for (const [before, action] of table) assert.equal(decideRestart(policy, before, 1000, top).action, action, `after ${before} crashes`);
    assert.equal(decideRestart({ ...policy, maxRestarts: 0 }, 0, undefined, top).action, 'fail', 'max_restarts 0: never restart');
  });

  it('a crash after a stable run starts a fresh streak and the shortest delay', () => {
    assert.deepEqual(decideRestart(policy, 3, 60_000, top), { action: 'restart', streak: 1, delayMs: 1000 });
    assert.equal(decideRestart(policy, 3, 59_999, top).action, 'fail', 'not stable long enough');
    assert.equal(decideRestart(policy, 3, undefined, top).action, 'fail', 'never ready is never stable');
  });
});
