import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { MemoryStore, RedisStore } from '../../src/registry/store/index.js';
import { SNAPSHOT_FILE } from '../../src/registry/store/snapshot.js';
import { REDIS_URL, requireRedis, uniqueName } from '../helpers/services.js';
import { recorder, settledRecorder, storeContract, svc } from './store-contract.js';

async function redisStore(t: TestContext, opts: { cleanupAgeMs: number }, prefix = uniqueName('sbtest:reg')): Promise<RedisStore | undefined> {
  if (!(await requireRedis(t))) return undefined;
  const store = await RedisStore.connect({ url: REDIS_URL, prefix, cleanupAgeMs: opts.cleanupAgeMs });
  t.after(async () => {
    await store.close();
    const r = new Redis(REDIS_URL);
    const keys = await r.keys(`${prefix}:*`);
    if (keys.length > 0) await r.del(...keys);
    r.disconnect();
  });
  return store;
}

storeContract('memory', (_t, opts) => Promise.resolve(new MemoryStore(opts)));
storeContract('redis', (t, opts) => redisStore(t, opts));

describe('memory store snapshot', () => {
  it('survives a restart: records, health and the change index come back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-snap-'));
    const a = new MemoryStore({ dataDir: dir, cleanupAgeMs: 300_000 });
    const now = Date.now();
    await a.register(svc('gpu-1', now, { metadata: { type: 'openai-api', models: ['m'] } }));
    await a.register(svc('gpu-2', now));
    await a.setHealth('gpu-2', 'unhealthy');
    await a.heartbeat('gpu-1', {}, now + 1234);
    await a.close();
    const b = new MemoryStore({ dataDir: dir, cleanupAgeMs: 300_000 });
    assert.deepEqual((await b.list()).map((s) => s.name), ['gpu-1', 'gpu-2']);
    assert.equal((await b.get('gpu-1'))?.lastHeartbeatMs, now + 1234);
    assert.equal((await b.get('gpu-2'))?.healthStatus, 'unhealthy');
    assert.ok(b.index > a.index, 'a restart moves the change index on, never back');
    await b.close();
  });

  it('writes a change to disk within moments, without waiting for close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-snap-'));
    const a = new MemoryStore({ dataDir: dir, cleanupAgeMs: 300_000 });
    await a.register(svc('gpu-1', Date.now()));
    await new Promise((r) => setTimeout(r, 300));
    const saved = JSON.parse(readFileSync(join(dir, SNAPSHOT_FILE), 'utf8')) as { services: { name: string }[] };
    assert.deepEqual(saved.services.map((s) => s.name), ['gpu-1']);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temp file left behind');
    await a.close();
  });

  it('moves an unreadable snapshot aside instead of failing or deleting it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-snap-'));
    writeFileSync(join(dir, SNAPSHOT_FILE), '{"version":1,"index":3,"services":[{"na');
    const s = new MemoryStore({ dataDir: dir, cleanupAgeMs: 300_000 });
    assert.deepEqual(await s.list(), []);
    assert.equal(readdirSync(dir).filter((f) => f.startsWith(`${SNAPSHOT_FILE}.corrupt-`)).length, 1);
    await s.close();
  });
});

describe('redis store', () => {
  it('lets Redis itself expire a record that stops heartbeating (no registry needed)', async (t) => {
    const prefix = uniqueName('sbtest:reg');
    const s = await redisStore(t, { cleanupAgeMs: 300 }, prefix);
    if (!s) return;
    await s.register(svc('silent', Date.now()));
    const r = new Redis(REDIS_URL);
    t.after(() => r.disconnect());
    assert.equal(await r.exists(`${prefix}:svc:silent`), 1);
    const ttl = await r.pttl(`${prefix}:svc:silent`);
    assert.ok(ttl > 0 && ttl <= 300, `key TTL ${ttl} ms`);
    await new Promise((res) => setTimeout(res, 500));
    assert.equal(await r.exists(`${prefix}:svc:silent`), 0, 'Redis dropped the key');
    assert.equal(await s.get('silent'), undefined);
    assert.deepEqual(await s.list(), []);
    // the clean-up still announces the removal to watchers
    const rec = await settledRecorder(s);
    assert.deepEqual(await s.cleanup(Date.now()), ['silent']);
    const [ev] = await rec.take(1);
    assert.ok(ev?.type === 'delete' && ev.name === 'silent');
  });

  it('shares records and events between two stores on one Redis', async (t) => {
    const prefix = uniqueName('sbtest:reg');
    const a = await redisStore(t, { cleanupAgeMs: 300_000 }, prefix);
    const b = await redisStore(t, { cleanupAgeMs: 300_000 }, prefix);
    if (!a || !b) return;
    const recB = recorder(b);
    await a.register(svc('gpu-1', Date.now()));
    const [ev] = await recB.take(1);
    assert.ok(ev?.type === 'upsert' && ev.service.name === 'gpu-1');
    assert.equal((await b.get('gpu-1'))?.url, 'http://127.0.0.1:9000');
    assert.equal(b.index, a.index);
  });

  it('gives probe leadership to one holder at a time, and to another once it lapses', async (t) => {
    const prefix = uniqueName('sbtest:reg');
    const a = await redisStore(t, { cleanupAgeMs: 300_000 }, prefix);
    if (!a) return;
    assert.equal(await a.tryLead('one', 200), true);
    assert.equal(await a.tryLead('two', 200), false);
    assert.equal(await a.tryLead('one', 200), true, 'the holder renews');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await a.tryLead('two', 200), true);
  });

  it('fails fast with SB_ERR_STORE_UNAVAILABLE when Redis cannot be reached', async () => {
    const s = await RedisStore.connect({ url: 'redis://127.0.0.1:1', prefix: 'x', cleanupAgeMs: 1000 });
    try {
      await assert.rejects(s.list(), (err: Error & { code?: string }) => err.code === 'SB_ERR_STORE_UNAVAILABLE');
      await assert.rejects(s.ping(), (err: Error & { code?: string }) => err.code === 'SB_ERR_STORE_UNAVAILABLE');
    } finally {
      await s.close();
    }
  });
});
