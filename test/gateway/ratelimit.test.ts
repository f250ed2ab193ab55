import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { createLogger, ManualClock, packageRoot } from '../../src/core/index.js';
import { MemoryRateLimitStore, parseRateLimits, RateLimiter, RedisRateLimitStore, type StoreState } from '../../src/gateway/index.js';
import { eventually } from '../helpers/process.js';
import { REDIS_URL, requireRedis, uniqueName } from '../helpers/services.js';
import { rateLimitStoreContract } from './ratelimit-contract.js';

function cleanupPrefix(t: TestContext, prefix: string): void {
  t.after(async () => {
    const r = new Redis(REDIS_URL);
    const keys = await r.keys(`${prefix}:*`);
    if (keys.length > 0) await r.del(...keys);
    r.disconnect();
  });
}

async function redisStore(t: TestContext, opts: { clock?: ManualClock; prefix?: string } = {}): Promise<RedisRateLimitStore | undefined> {
  if (!(await requireRedis(t))) return undefined;
  const prefix = opts.prefix ?? uniqueName('sbtest:rl');
  const store = new RedisRateLimitStore({ url: REDIS_URL, prefix, ...(opts.clock ? { clock: opts.clock } : {}) });
  t.after(() => store.close());
  if (!opts.prefix) cleanupPrefix(t, prefix);
  assert.equal(await store.ready(), true, 'connected to the test Redis');
  return store;
}

rateLimitStoreContract('memory', (t) => {
  const clock = new ManualClock();
  const store = new MemoryRateLimitStore({ clock });
  t.after(() => store.close());
  return Promise.resolve({ store, advance: (ms) => clock.advance(ms) });
});

rateLimitStoreContract('redis', async (t) => {
  const clock = new ManualClock();
  const store = await redisStore(t, { clock });
  return store && { store, advance: (ms) => clock.advance(ms) };
});

describe('memory store', () => {
  it('forgets buckets that have refilled completely', async () => {
    const clock = new ManualClock();
    const store = new MemoryRateLimitStore({ clock });
    for (let i = 0; i < 100; i++) await store.take(`b${i}`, 1, { capacity: 10, refillPerSecond: 10 });
    assert.equal(store.size, 100);
    await clock.advance(200);
    store.sweep();
    assert.equal(store.size, 0);
    await store.close();
  });
});

describe('redis store', () => {
  it('shares one limit between two stores on two connections (two routers): never more than capacity', async (t) => {
    const prefix = uniqueName('sbtest:rl');
    const a = await redisStore(t, { prefix });
    const b = await redisStore(t, { prefix });
    if (!a || !b) return;
    cleanupPrefix(t, prefix);
    const spec = { capacity: 30, refillPerSecond: 0.001 };
    const takes: Promise<{ allowed: boolean }>[] = [];
    for (let i = 0; i < 50; i++) takes.push(a.take('shared', 1, spec), b.take('shared', 1, spec));
    const results = await Promise.all(takes);
    assert.equal(results.filter((r) => r.allowed).length, 30);
  });

  it('uses Redis TIME when no clock is passed: refills in real time', async (t) => {
    const store = await redisStore(t);
    if (!store) return;
    const spec = { capacity: 3, refillPerSecond: 20 };
    for (let i = 0; i < 3; i++) assert.equal((await store.take('rt', 1, spec)).allowed, true);
    const denied = await store.take('rt', 1, spec);
    assert.equal(denied.allowed, false);
    assert.ok(denied.retryAfterMs > 0 && denied.retryAfterMs <= 50, `retry ${denied.retryAfterMs} ms at 20/s`);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal((await store.take('rt', 1, spec)).allowed, true, 'refilled after 150 ms at 20/s');
  });

  it('lets an idle bucket expire when it would be full, and deletes a full one', async (t) => {
    const prefix = uniqueName('sbtest:rl');
    const store = await redisStore(t, { prefix });
    if (!store) return;
    cleanupPrefix(t, prefix);
    const r = new Redis(REDIS_URL);
    t.after(() => r.disconnect());
    const spec = { capacity: 10, refillPerSecond: 5 };
    const res = await store.take('idle', 5, spec);
    assert.equal(res.resetMs, 1000);
    const ttl = await r.pttl(`${prefix}:idle`);
    assert.ok(ttl > 1000 && ttl <= 2000, `PTTL ${ttl} ms: time to full plus 1 s`);
    await store.give('idle', 5, spec);
    assert.equal(await r.exists(`${prefix}:idle`), 0, 'a full bucket is no key at all');
  });

  it('does not refill for a router whose clock lags (time only moves forward per bucket)', async (t) => {
    const prefix = uniqueName('sbtest:rl');
    const ahead = new ManualClock(Date.UTC(2026, 0, 1, 0, 0, 10));
    const behind = new ManualClock(Date.UTC(2026, 0, 1, 0, 0, 0));
    const a = await redisStore(t, { prefix, clock: ahead });
    const b = await redisStore(t, { prefix, clock: behind });
    if (!a || !b) return;
    cleanupPrefix(t, prefix);
    const spec = { capacity: 5, refillPerSecond: 1 };
    for (let i = 0; i < 5; i++) assert.equal((await a.take('skew', 1, spec)).allowed, true);
    await behind.advance(5000); // still 5 s behind the other router
    assert.equal((await b.take('skew', 1, spec)).allowed, false, 'the lagging clock refills nothing');
    await ahead.advance(1000);
    assert.equal((await a.take('skew', 1, spec)).allowed, true, 'one token per second of the leading clock');
    assert.equal((await a.take('skew', 1, spec)).allowed, false);
  });

  it('fails fast with SB_ERR_RATE_LIMIT_UNAVAILABLE when Redis is unreachable', async (t) => {
    const store = new RedisRateLimitStore({ url: 'redis://127.0.0.1:1', prefix: 'x' });
    t.after(() => store.close());
    await assert.rejects(store.take('b', 1, { capacity: 1, refillPerSecond: 1 }), { code: 'SB_ERR_RATE_LIMIT_UNAVAILABLE' });
    await assert.rejects(store.give('b', 1, { capacity: 1, refillPerSecond: 1 }), { code: 'SB_ERR_RATE_LIMIT_UNAVAILABLE' });
  });
});

// ------------------------------------------------------------------ two real processes

interface LoopResult {
  admitted: number;
  tries: number;
  firstMs: number;
  lastAdmittedMs: number;
}

const FIXTURE = join(packageRoot(), 'dist', 'test', 'gateway', 'fixtures', 'take-loop.js');

function startLoop(t: TestContext, args: string[]): { child: ChildProcess; ready: Promise<void>; result: Promise<LoopResult> } {
  const child = spawn(process.execPath, [FIXTURE, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.startsWith('ready\n')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`take-loop exited ${code} before ready: ${err}`)));
  });
  const result = once(child, 'exit').then(([code]) => {
    assert.equal(code, 0, `take-loop failed: ${err}`);
    return JSON.parse(out.split('\n').filter(Boolean).at(-1)!) as LoopResult;
  });
  return { child, ready, result };
}

async function runTwo(t: TestContext, args: string[]): Promise<[LoopResult, LoopResult]> {
  const a = startLoop(t, args);
  const b = startLoop(t, args);
  await Promise.all([a.ready, b.ready]);
  a.child.stdin!.end('go\n');
  b.child.stdin!.end('go\n');
  return Promise.all([a.result, b.result]);
}

describe('two router processes on one Redis', () => {
  it('admit exactly the capacity between them when nothing refills', async (t) => {
    if (!(await requireRedis(t))) return;
    const prefix = uniqueName('sbtest:rl');
    cleanupPrefix(t, prefix);
    const [a, b] = await runTwo(t, [REDIS_URL, prefix, 'shared', '100', '0.0001', '300', '0']);
    assert.equal(a.tries + b.tries, 600);
    t.diagnostic(`two processes admitted ${a.admitted} + ${b.admitted} of ${a.tries + b.tries} tries`);
    assert.equal(a.admitted + b.admitted, 100, `admitted ${a.admitted} + ${b.admitted}`);
  });

  it('admit no more than capacity + rate x elapsed between them while refilling', async (t) => {
    if (!(await requireRedis(t))) return;
    const prefix = uniqueName('sbtest:rl');
    cleanupPrefix(t, prefix);
    const capacity = 20;
    const rate = 40;
    const [a, b] = await runTwo(t, [REDIS_URL, prefix, 'shared', String(capacity), String(rate), '0', '1500']);
    const spanMs = Math.max(a.lastAdmittedMs, b.lastAdmittedMs) - Math.min(a.firstMs, b.firstMs);
    const bound = capacity + Math.ceil((rate * spanMs) / 1000) + 1;
    const total = a.admitted + b.admitted;
    t.diagnostic(`two processes admitted ${a.admitted} + ${b.admitted} = ${total} of ${a.tries + b.tries} tries over ${spanMs} ms (bound ${bound})`);
    assert.ok(total <= bound, `admitted ${total} (${a.admitted} + ${b.admitted}) over ${spanMs} ms; the limit allows ${bound}`);
    assert.ok(total > capacity, `refill admitted more than the burst (${total})`);
  });
});

// ------------------------------------------------------------------ Redis down and back

/** A TCP proxy in front of the real Redis that can be taken down and brought back on the same port. */
async function redisProxy(t: TestContext): Promise<{ url: string; down(): Promise<void>; up(): Promise<void> }> {
  const target = new URL(REDIS_URL);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const up = async (): Promise<void> => {
    server = createServer((client) => {
      const upstream = connect(Number(target.port) || 6379, target.hostname);
      sockets.add(client).add(upstream);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  };
  const down = async (): Promise<void> => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    sockets.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  };
  await up();
  t.after(down);
  return { url: `redis://127.0.0.1:${port}`, down, up };
}

function captureLogger(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  return { lines, logger: createLogger({ name: 'test', level: 'info', destination: { write: (s: string) => void lines.push(s) } }) };
}

const LIMITS = { models: { m: { rpm: 100_000 } } };

describe('rate limiter when the store fails', () => {
  it('fails open by default: admits without limits, says degraded, counts it', async (t) => {
    const store = new RedisRateLimitStore({ url: 'redis://127.0.0.1:1', prefix: 'x' });
    const states: StoreState[] = [];
    const limiter = new RateLimiter({ config: parseRateLimits(LIMITS, 'test'), store, onStateChange: (s) => states.push(s) });
    t.after(() => limiter.close());
    const a = await limiter.admit({ model: 'm', estimatedTokens: 10 });
    assert.equal(a.allowed, true);
    assert.equal(a.allowed && a.degraded, true);
    assert.equal(limiter.state(), 'degraded');
    assert.deepEqual(states, ['degraded']);
    const c = limiter.counters();
    assert.equal(c.failOpen, 1);
    assert.equal(c.storeErrors, 1);
  });

  it('fails closed when configured: 503 SB_ERR_RATE_LIMIT_UNAVAILABLE', async (t) => {
    const store = new RedisRateLimitStore({ url: 'redis://127.0.0.1:1', prefix: 'x' });
    const limiter = new RateLimiter({ config: parseRateLimits({ ...LIMITS, fail_mode: 'closed' }, 'test'), store });
    t.after(() => limiter.close());
    const a = await limiter.admit({ model: 'm', estimatedTokens: 10 });
    assert.equal(a.allowed, false);
    assert.ok(!a.allowed && a.reason === 'unavailable');
    const err = a.error();
    assert.equal(err.code, 'SB_ERR_RATE_LIMIT_UNAVAILABLE');
    assert.equal(err.statusCode, 503);
    assert.equal(a.headers['retry-after'], '1');
    assert.equal(limiter.counters().failClosed, 1);
  });

  it('recovers by itself when Redis comes back, logging each transition once', async (t) => {
    if (!(await requireRedis(t))) return;
    const proxy = await redisProxy(t);
    const prefix = uniqueName('sbtest:rl');
    cleanupPrefix(t, prefix);
    const store = new RedisRateLimitStore({ url: proxy.url, prefix });
    const { logger, lines } = captureLogger();
    const states: StoreState[] = [];
    const limiter = new RateLimiter({ config: parseRateLimits({ ...LIMITS, fail_mode: 'closed' }, 'test'), store, logger, onStateChange: (s) => states.push(s) });
    t.after(() => limiter.close());
    assert.equal(await store.ready(), true);
    assert.equal((await limiter.admit({ model: 'm', estimatedTokens: 1 })).allowed, true);

    await proxy.down();
    await eventually(async () => {
      const a = await limiter.admit({ model: 'm', estimatedTokens: 1 });
      return !a.allowed && a.reason === 'unavailable';
    });
    for (let i = 0; i < 5; i++) await limiter.admit({ model: 'm', estimatedTokens: 1 });
    assert.equal(limiter.state(), 'degraded');

    await proxy.up();
    await eventually(async () => (await limiter.admit({ model: 'm', estimatedTokens: 1 })).allowed, 10_000);
    assert.equal(limiter.state(), 'ok');
    assert.deepEqual(states, ['degraded', 'ok']);
    logger.flush();
    const transitions = lines.filter((l) => l.includes('rate-limit store'));
    assert.equal(transitions.length, 2, transitions.join('\n'));
    assert.match(transitions[0]!, /"level":"error".*fail_mode closed/);
    assert.match(transitions[1]!, /"level":"info".*reachable again/);
    assert.ok(limiter.counters().failClosed >= 6);
  });
});
