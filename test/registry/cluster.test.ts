// Two `switchboard registry` processes on one real Redis serve the same records: what is written
// through one is read through the other, and each one's change feed announces it.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import type { ServiceRecord } from '../../src/registry/record.js';
import { spawnSwitchboard } from '../helpers/process.js';
import { REDIS_URL, requireRedis, uniqueName } from '../helpers/services.js';
import { call, openFeed, register, registration, type FeedEvent } from './helpers.js';

async function redisPair(t: TestContext): Promise<[string, string]> {
  const prefix = uniqueName('sbtest:cluster');
  t.after(async () => {
    const r = new Redis(REDIS_URL);
    const keys = await r.keys(`${prefix}:*`);
    if (keys.length > 0) await r.del(...keys);
    r.disconnect();
  });
  // the key prefix is a config-file key (redisPrefix); flags give the rest
  const file = join(mkdtempSync(join(tmpdir(), 'sb-cluster-')), 'registry.json');
  writeFileSync(file, JSON.stringify({ redisPrefix: prefix }));
  const args = ['registry', '--port', '0', '--store', REDIS_URL, '--config', file, '--no-probes'];
  const a = spawnSwitchboard(t, args);
  const b = spawnSwitchboard(t, args);
  return [await a.listeningUrl(), await b.listeningUrl()];
}

const named = (event: string, name: string) => (e: FeedEvent) => e.event === event && (e.json as { name?: string }).name === name;

describe('two registries on one Redis', () => {
  it('serve the same records, and each feed announces changes made through the other', async (t) => {
    if (!(await requireRedis(t))) return;
    const [a, b] = await redisPair(t);
    const feedB = await openFeed(t, b);
    const snapB = await feedB.next((e) => e.event === 'snapshot');
    assert.deepEqual((snapB.json as { services: unknown[] }).services, []);
    const feedA = await openFeed(t, a);
    await feedA.next((e) => e.event === 'snapshot');

    const t0 = performance.now();
    const reg = await register(a, registration('gpu-1', 8100, { metadata: { type: 'openai-api', models: ['m'] } }));
    const up = await feedB.next(named('upsert', 'gpu-1'));
    t.diagnostic(`register on A to upsert on B's feed: ${(up.at - t0).toFixed(1)} ms (request included)`);
    assert.deepEqual((up.json as ServiceRecord).metadata, { type: 'openai-api', models: ['m'] });
    assert.ok(Number(up.id) > Number(snapB.id));
    const onB = (await call<ServiceRecord>('GET', `${b}/services/gpu-1`)).body;
    assert.deepEqual({ ...onB, is_healthy: reg.is_healthy }, reg, 'B serves the record A stored');

    // writes through B are seen through A
    assert.equal((await call('POST', `${b}/services/gpu-1/heartbeat`, { status: 'draining' })).status, 200);
    const drained = await feedA.next((e) => named('upsert', 'gpu-1')(e) && (e.json as ServiceRecord).status === 'draining');
    assert.equal((drained.json as ServiceRecord).is_healthy, false);
    assert.equal((await call<ServiceRecord>('GET', `${a}/services/gpu-1`)).body.status, 'draining');
    await register(b, registration('gpu-2', 8200));
    const listA = (await call<{ services: ServiceRecord[] }>('GET', `${a}/services`)).body.services.map((s) => s.name).sort();
    const listB = (await call<{ services: ServiceRecord[] }>('GET', `${b}/services`)).body.services.map((s) => s.name).sort();
    assert.deepEqual(listA, ['gpu-1', 'gpu-2']);
    assert.deepEqual(listB, listA);
    assert.equal((await call<{ total_services: number }>('GET', `${a}/stats`)).body.total_services, 2);

    assert.equal((await call('DELETE', `${b}/services/gpu-1`)).status, 200);
    await feedA.next(named('delete', 'gpu-1'));
    assert.equal((await call('GET', `${a}/services/gpu-1`)).status, 404);
    assert.equal((await call('DELETE', `${a}/services/gpu-1`)).status, 404, 'gone for both');
  });

  it('a blocking query on one registry is answered by a change made through the other', async (t) => {
    if (!(await requireRedis(t))) return;
    const [a, b] = await redisPair(t);
    await register(a, registration('first'));
    const first = await call('GET', `${b}/services`);
    const n = Number(first.headers.get('x-switchboard-index'));
    const pending = call<{ services: ServiceRecord[] }>('GET', `${b}/services?index=${n}&wait=10s`);
    await new Promise((r) => setTimeout(r, 100));
    await register(a, registration('second', 5002));
    const res = await pending;
    assert.ok(Number(res.headers.get('x-switchboard-index')) > n);
    assert.deepEqual(res.body.services.map((s) => s.name).sort(), ['first', 'second']);
  });
});
