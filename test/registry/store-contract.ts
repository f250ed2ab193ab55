// The contract every registry store keeps (STYLE: one suite per pluggable family). A new store
// is a new file plus a three-line test that calls storeContract().
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { StoredService } from '../../src/registry/record.js';
import type { RegistryStore, StoreEvent } from '../../src/registry/store/index.js';

export type MakeStore = (t: TestContext, opts: { cleanupAgeMs: number }) => Promise<RegistryStore | undefined>;

export function svc(name: string, nowMs: number, over: Partial<StoredService> = {}): StoredService {
  return {
    name,
    host: '127.0.0.1',
    port: 9000,
    hostname: 'gpu-a',
    url: 'http://127.0.0.1:9000',
    status: 'running',
    timestamp: new Date(nowMs).toISOString(),
    lastHeartbeatMs: nowMs,
    healthStatus: 'unknown',
    metadata: { type: 'openai-api', models: ['m1'] },
    leaseTtlMs: 120_000,
    ...over,
  };
}

/** Collects store events; `take(n)` waits (briefly) until n more have arrived. */
export interface Recorder {
  events: StoreEvent[];
  take(n: number): Promise<StoreEvent[]>;
  quiet(ms?: number): Promise<StoreEvent[]>;
}

export function recorder(store: RegistryStore): Recorder {
  const events: StoreEvent[] = [];
  let seen = 0;
  store.subscribe((e) => events.push(e));
  return {
    events,
    async take(n) {
      const deadline = Date.now() + 3000;
      while (events.length < seen + n) {
        if (Date.now() > deadline) assert.fail(`expected ${n} more store events, got ${events.length - seen}: ${JSON.stringify(events.slice(seen))}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      const out = events.slice(seen, seen + n);
      seen += n;
      return out;
    },
    /** Waits a moment and returns whatever arrived meanwhile (to show that nothing did). */
    async quiet(ms = 150) {
      await new Promise((r) => setTimeout(r, ms));
      const out = events.slice(seen);
      seen = events.length;
      return out;
    },
  };
}

/** A recorder that starts after the events of earlier writes have arrived (a Redis store hears
 * its own writes back through pub/sub, a moment later). */
export async function settledRecorder(store: RegistryStore): Promise<Recorder> {
  const rec = recorder(store);
  await rec.quiet();
  return rec;
}

export function storeContract(name: string, make: MakeStore): void {
  describe(`registry store contract: ${name}`, () => {
    const open = async (t: TestContext, cleanupAgeMs = 300_000): Promise<RegistryStore | undefined> => {
      const store = await make(t, { cleanupAgeMs });
      if (store) t.after(() => store.close());
      return store;
    };

    it('registers, reads back and lists records; re-registering overwrites by name', async (t) => {
      const s = await open(t);
      if (!s) return;
      const now = Date.now();
      await s.register(svc('a', now));
      await s.register(svc('b', now, { port: 9001, url: 'http://127.0.0.1:9001' }));
      assert.deepEqual((await s.get('a'))?.metadata, { type: 'openai-api', models: ['m1'] });
      assert.equal(await s.get('missing'), undefined);
      await s.register(svc('a', now + 5, { port: 9100, healthStatus: 'unknown', metadata: { type: 'x' } }));
      const a = await s.get('a');
      assert.equal(a?.port, 9100);
      assert.deepEqual(a?.metadata, { type: 'x' });
      assert.deepEqual((await s.list()).map((r) => r.name).sort(), ['a', 'b']);
    });

    it('keeps metadata exactly: empty arrays and objects, nesting, unicode, numbers', async (t) => {
      const s = await open(t);
      if (!s) return;
      const metadata = { models: [], extra: {}, nested: { list: [1, 2.5, 'x', null, true] }, note: 'ünïcode "quoted" \\ /', weight: 3 };
      await s.register(svc('m', Date.now(), { metadata }));
      assert.deepEqual((await s.get('m'))?.metadata, metadata);
    });

    it('announces each change once, in index order', async (t) => {
      const s = await open(t);
      if (!s) return;
      const rec = await settledRecorder(s);
      const before = s.index;
      const now = Date.now();
      await s.register(svc('a', now));
      await s.register(svc('b', now));
      await s.remove('a');
      const evs = await rec.take(3);
      assert.deepEqual(
        evs.map((e) => [e.type, 'index' in e ? e.index - before : -1]),
        [['upsert', 1], ['upsert', 2], ['delete', 3]],
      );
      assert.equal(evs[0]?.type === 'upsert' && evs[0].service.name, 'a');
      assert.equal(s.index, before + 3);
    });

    it('update patches fields, replaces metadata, refreshes the heartbeat; unknown names give undefined', async (t) => {
      const s = await open(t);
      if (!s) return;
      const now = Date.now();
      await s.register(svc('a', now - 1000, { metadata: { type: 'openai-api', models: ['m1'], keep: 1 } }));
      const rec = await settledRecorder(s);
      const u = await s.update('a', { port: 9500, status: 'draining', metadata: { type: 'openai-api' } }, now);
      assert.equal(u?.port, 9500);
      assert.equal(u?.status, 'draining');
      assert.deepEqual(u?.metadata, { type: 'openai-api' });
      const got = await s.get('a');
      assert.equal(got?.lastHeartbeatMs, now);
      assert.equal(got?.status, 'draining');
      const [ev] = await rec.take(1);
      assert.equal(ev?.type, 'upsert');
      assert.equal(await s.update('nope', { port: 1 }, now), undefined);
    });

    it('heartbeats refresh the lease silently unless something routable changes', async (t) => {
      const s = await open(t);
      if (!s) return;
      const now = Date.now();
      await s.register(svc('a', now));
      const rec = await settledRecorder(s);
      assert.equal(await s.heartbeat('a', {}, now + 1000), true);
      assert.equal((await s.get('a'))?.lastHeartbeatMs, now + 1000);
      assert.deepEqual(await rec.quiet(), [], 'a plain heartbeat is not a change');
      assert.equal(await s.heartbeat('a', { status: 'draining' }, now + 2000), true);
      const [ev] = await rec.take(1);
      assert.ok(ev?.type === 'upsert' && ev.service.status === 'draining');
      assert.equal(await s.heartbeat('nope', {}, now), false);
    });

    it('heartbeat load is stored and announced without advancing the index', async (t) => {
      const s = await open(t);
      if (!s) return;
      const now = Date.now();
      await s.register(svc('a', now));
      const rec = await settledRecorder(s);
      await new Promise((r) => setTimeout(r, 50));
      const index = s.index;
      await s.heartbeat('a', { load: { running: 3, waiting: 1, kv_cache_usage: 0.25 } }, now + 10);
      const [ev] = await rec.take(1);
      assert.ok(ev?.type === 'load');
      assert.equal(ev.load.running, 3);
      assert.equal(ev.load.updated_at, (now + 10) / 1000);
      assert.equal(s.index, index);
      assert.equal((await s.get('a'))?.load?.kv_cache_usage, 0.25);
    });

    it('setHealth announces only a change of verdict, and may refresh the heartbeat', async (t) => {
      const s = await open(t);
      if (!s) return;
      const now = Date.now();
      await s.register(svc('a', now));
      const rec = await settledRecorder(s);
      assert.equal(await s.setHealth('a', 'unhealthy'), true);
      assert.equal((await rec.take(1))[0]?.type, 'upsert');
      await s.setHealth('a', 'unhealthy');
      assert.deepEqual(await rec.quiet(), []);
      await s.setHealth('a', 'healthy', now + 500);
      const got = await s.get('a');
      assert.equal(got?.healthStatus, 'healthy');
      assert.equal(got?.lastHeartbeatMs, now + 500);
      assert.equal(await s.setHealth('nope', 'healthy'), false);
    });

    it('remove deletes once', async (t) => {
      const s = await open(t);
      if (!s) return;
      await s.register(svc('a', Date.now()));
      assert.equal(await s.remove('a'), true);
      assert.equal(await s.remove('a'), false);
      assert.equal(await s.get('a'), undefined);
      assert.deepEqual(await s.list(), []);
    });

    it('announces a lapsed lease once; the next heartbeat revives the record with an upsert', async (t) => {
      const s = await open(t);
      if (!s) return;
      const now = Date.now();
      await s.register(svc('a', now, { leaseTtlMs: 1000 }));
      await s.register(svc('b', now, { leaseTtlMs: 60_000 }));
      const rec = await settledRecorder(s);
      assert.deepEqual(await s.expireLeases(now + 500), []);
      assert.deepEqual(await s.expireLeases(now + 1500), ['a']);
      const [ev] = await rec.take(1);
      assert.ok(ev?.type === 'upsert' && ev.service.name === 'a');
      assert.deepEqual(await s.expireLeases(now + 1600), [], 'announced once');
      await s.heartbeat('a', {}, now + 1700);
      const [revived] = await rec.take(1);
      assert.ok(revived?.type === 'upsert' && revived.service.lastHeartbeatMs === now + 1700);
      assert.deepEqual(await s.expireLeases(now + 2000), []);
    });

    it('cleanup removes records whose heartbeat is older than the clean-up age', async (t) => {
      const s = await open(t, 5000);
      if (!s) return;
      const now = Date.now();
      await s.register(svc('old', now - 6000));
      await s.register(svc('young', now - 1000));
      const rec = await settledRecorder(s);
      assert.deepEqual(await s.cleanup(now), ['old']);
      const [ev] = await rec.take(1);
      assert.ok(ev?.type === 'delete' && ev.name === 'old');
      assert.deepEqual((await s.list()).map((r) => r.name), ['young']);
    });
  });
}
