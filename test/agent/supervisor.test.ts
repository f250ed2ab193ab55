import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { freePort } from '../../src/agent/engines.js';
import { EngineLog } from '../../src/agent/logs.js';
import { Supervisor, type SupervisorOptions } from '../../src/agent/supervisor.js';
import { systemClock, type Random } from '../../src/core/index.js';
import { eventually } from '../helpers/process.js';
import { alive, fakeEngine, type FakeEngine } from './fake-engine.js';

/** The largest delay the jitter allows, so back-off delays are exact. */
const TOP: Random = { next: () => 0.999 };

interface Seen {
  ready: number;
  down: number;
  failed: number;
  backoffs: { delayMs: number; streak: number }[];
}

async function supervise(t: TestContext, engine: FakeEngine, env: Record<string, string>, over: Partial<SupervisorOptions> = {}): Promise<{ sup: Supervisor; seen: Seen; port: number }> {
  const port = await freePort('127.0.0.1');
  const seen: Seen = { ready: 0, down: 0, failed: 0, backoffs: [] };
  const sup = new Supervisor({
    name: 'fake-server',
    launch: () => ({ command: process.execPath, args: [engine.script], env: { PORT: String(port), STARTS_FILE: engine.startsFile, ...env } }),
    baseUrl: `http://127.0.0.1:${port}`,
    endpoints: { healthPath: undefined, modelsPaths: ['/v1/models', '/models'] },
    policy: { maxRestarts: 2, restartDelayMs: 20, maxRestartDelayMs: 1000, stableAfterMs: 60_000 },
    readyTimeoutMs: 10_000,
    stopGraceMs: 2000,
    log: new EngineLog({ dir: join(engine.dir, 'logs'), name: 'fake-server', maxBytes: 1 << 20, maxFiles: 10, clock: systemClock }),
    clock: systemClock,
    random: TOP,
    events: {
      onReady: () => seen.ready++,
      onDown: () => seen.down++,
      onFailed: () => seen.failed++,
      onBackoff: (delayMs, streak) => seen.backoffs.push({ delayMs, streak }),
    },
    ...over,
  });
  t.after(() => sup.stop());
  sup.start();
  return { sup, seen, port };
}

describe('supervisor (real child processes)', () => {
  it('restarts a crashing engine with exponential back-off, then reports it failed after max_restarts', async (t) => {
    const engine = fakeEngine(t);
    const { sup, seen } = await supervise(t, engine, { EXIT_AT_ONCE: '1' });
    await eventually(() => sup.state === 'failed', 20_000);
    assert.equal(engine.starts().length, 3, 'the first start and max_restarts (2) restarts');
    assert.equal(sup.restarts, 2);
    assert.equal(seen.failed, 1);
    assert.equal(seen.ready, 0);
    assert.deepEqual(seen.backoffs, [
      { delayMs: 20, streak: 1 },
      { delayMs: 40, streak: 2 },
    ]);
    assert.equal(sup.lastExit?.code, 1);
    assert.ok(sup.lastExit?.tail.includes('[stderr] a line on stderr'), JSON.stringify(sup.lastExit?.tail));
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(engine.starts().length, 3, 'a failed engine stays down');
  });

  it('waits for readiness each time, and counts an engine that crashes after being ready', async (t) => {
    const engine = fakeEngine(t);
    const { sup, seen } = await supervise(t, engine, { CRASH_AFTER_MS: '1000' }, { policy: { maxRestarts: 1, restartDelayMs: 20, maxRestartDelayMs: 100, stableAfterMs: 60_000 } });
    await eventually(() => sup.state === 'ready');
    assert.deepEqual(sup.models.map((m) => m.id), ['fake-model']);
    assert.ok(sup.pid !== undefined && alive(sup.pid));
    await eventually(() => sup.state === 'failed', 20_000);
    assert.equal(seen.ready, 2, 'ready after the start and after the restart');
    assert.equal(seen.down, 2);
    assert.equal(sup.lastExit?.code, 3);
  });

  it('a crash after a stable period starts the count over: a slow crasher is never declared failed', async (t) => {
    const engine = fakeEngine(t);
    const { sup, seen } = await supervise(t, engine, { CRASH_AFTER_MS: '800' }, { policy: { maxRestarts: 1, restartDelayMs: 20, maxRestartDelayMs: 100, stableAfterMs: 150 } });
    await eventually(() => engine.starts().length >= 4, 20_000);
    assert.notEqual(sup.state, 'failed');
    assert.equal(seen.failed, 0);
    assert.ok(seen.backoffs.length >= 3);
    assert.ok(seen.backoffs.every((b) => b.streak === 1 && b.delayMs === 20), JSON.stringify(seen.backoffs));
  });

  it('stops with SIGTERM, and SIGKILL after the grace period when the engine ignores it', async (t) => {
    const engine = fakeEngine(t);
    const { sup } = await supervise(t, engine, { IGNORE_SIGTERM: '1' }, { stopGraceMs: 300 });
    await eventually(() => sup.state === 'ready');
    const pid = sup.pid!;
    await sup.stop();
    assert.equal(sup.state, 'stopped');
    assert.equal(alive(pid), false);
    assert.equal(engine.starts().length, 1, 'a stop is not a crash: no restart');
  });

  it('reports a program that cannot be started, with the reason', async (t) => {
    const engine = fakeEngine(t);
    const { sup } = await supervise(t, engine, {}, { launch: () => ({ command: join(engine.dir, 'no-such-engine'), args: [], env: {} }), policy: { maxRestarts: 1, restartDelayMs: 10, maxRestartDelayMs: 10, stableAfterMs: 1000 } });
    await eventually(() => sup.state === 'failed', 10_000);
    assert.match(sup.lastExit?.error ?? '', /ENOENT/);
  });

  it('restarts an engine that never becomes ready within ready_timeout', async (t) => {
    const engine = fakeEngine(t);
    // long enough for a child node to boot and record its start on a loaded CI machine (at 400 ms
    // the first child was once stopped before it had written its pid, and one start was counted)
    const { sup, seen } = await supervise(t, engine, { NEVER_READY: '1' }, { readyTimeoutMs: 1500, policy: { maxRestarts: 1, restartDelayMs: 10, maxRestartDelayMs: 10, stableAfterMs: 1000 } });
    await eventually(() => sup.state === 'failed', 15_000);
    assert.equal(engine.starts().length, 2);
    assert.equal(seen.ready, 0);
    assert.equal(sup.lastExit?.signal, 'SIGTERM', 'the agent stopped it');
  });
});
