// The change feed (docs/architecture.md "Change feed"): blocking queries on /services with
// X-Switchboard-Index, and the SSE watch (three ways in) with snapshot, upsert/delete/load
// events, keep-alives, and resume by Last-Event-ID.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceRecord } from '../../src/registry/record.js';
import { call, openFeed, register, registration, startRegistry, type FeedEvent } from './helpers.js';

const INDEX = 'x-switchboard-index';

function indexOf(headers: Headers): number {
  const v = headers.get(INDEX);
  assert.ok(v !== null && /^\d+$/.test(v), `${INDEX}: ${v}`);
  return Number(v);
}

const named = (event: string, name: string) => (e: FeedEvent) => e.event === event && (e.json as { name?: string }).name === name;

describe('blocking queries', () => {
  it('GET /services?index=N&wait= answers as soon as the index passes N, with the new index', async (t) => {
    const { url } = await startRegistry(t);
    await register(url, registration('a'));
    const first = await call('GET', `${url}/services`);
    const n = indexOf(first.headers);
    const t0 = performance.now();
    const pending = call<{ services: ServiceRecord[] }>('GET', `${url}/services?index=${n}&wait=5s`);
    await new Promise((r) => setTimeout(r, 150));
    await register(url, registration('b', 5002));
    const res = await pending;
    const elapsed = performance.now() - t0;
    assert.equal(res.status, 200);
    assert.ok(indexOf(res.headers) > n);
    assert.deepEqual(res.body.services.map((s) => s.name), ['a', 'b'], 'it was held until the change, then answered with it');
    assert.ok(elapsed < 4000, `answered by the change, not by the 5 s wait (${elapsed.toFixed(0)} ms)`);
    t.diagnostic(`blocking query answered ${(elapsed - 150).toFixed(1)} ms after the change was sent`);
  });

  it('holds until wait passes when nothing changes; heartbeats do not advance the index', async (t) => {
    const { url } = await startRegistry(t);
    await register(url, registration('a'));
    const n = indexOf((await call('GET', `${url}/services`)).headers);
    const t0 = performance.now();
    const pending = call('GET', `${url}/services?index=${n}&wait=600ms`);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await call('POST', `${url}/services/a/heartbeat`)).status, 200);
    const res = await pending;
    assert.ok(performance.now() - t0 >= 550, 'held for the whole wait: the heartbeat changed nothing routable');
    assert.equal(indexOf(res.headers), n);
  });

  it('answers at once for an index from the future (the registry restarted) and applies filters', async (t) => {
    const { url } = await startRegistry(t);
    await register(url, registration('a'));
    await register(url, registration('b', 5002, { status: 'starting' }));
    const res = await call<{ services: ServiceRecord[] }>('GET', `${url}/services?index=999999&wait=30s&healthy=true`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.services.map((s) => s.name), ['a']);
  });

  it('refuses a bad index or wait with 400 naming the parameter', async (t) => {
    const { url } = await startRegistry(t);
    for (const [qs, field] of [['index=abc', 'index'], ['index=-1', 'index'], ['index=0&wait=soon', 'wait']]) {
      const res = await call<{ error: string; code: string }>('GET', `${url}/services?${qs}`);
      assert.equal(res.status, 400, qs);
      assert.equal(res.body.code, 'SB_ERR_INVALID_FIELD');
      assert.match(res.body.error, new RegExp(`'${field}'`));
    }
  });
});

describe('SSE watch', () => {
  const ways: [string, string, Record<string, string>][] = [
    ['?watch=true', '/services?watch=true', {}],
    ['Accept: text/event-stream', '/services', { accept: 'text/event-stream' }],
    ['/services/events', '/services/events', {}],
  ];
  for (const [label, path, headers] of ways) {
    it(`${label}: a snapshot, then upsert and delete events with increasing ids`, async (t) => {
      const { url } = await startRegistry(t);
      await register(url, registration('before'));
      const feed = await openFeed(t, url, path, headers);
      assert.equal(feed.res.statusCode, 200);
      assert.match(String(feed.res.headers['content-type']), /^text\/event-stream/);
      const snapIndex = Number(feed.res.headers[INDEX]);
      const snap = await feed.next(() => true);
      assert.equal(snap.event, 'snapshot', 'the first event is the snapshot');
      const body = snap.json as { index: number; services: ServiceRecord[] };
      assert.deepEqual(Object.keys(body), ['index', 'services']);
      assert.equal(body.index, snapIndex);
      assert.equal(snap.id, String(snapIndex));
      assert.deepEqual(body.services.map((s) => s.name), ['before']);

      const t0 = performance.now();
      await register(url, registration('added', 5002));
      const up = await feed.next(named('upsert', 'added'));
      const upMs = up.at - t0;
      assert.ok(Number(up.id) > snapIndex);
      assert.equal((up.json as ServiceRecord).url, 'http://127.0.0.1:5002');
      assert.equal((up.json as ServiceRecord).is_healthy, true);

      const t1 = performance.now();
      assert.equal((await call('DELETE', `${url}/services/before`)).status, 200);
      const del = await feed.next(named('delete', 'before'));
      assert.deepEqual(del.json, { name: 'before' });
      assert.equal(Number(del.id), Number(up.id) + 1);
      t.diagnostic(`change to event: upsert ${upMs.toFixed(1)} ms, delete ${(del.at - t1).toFixed(1)} ms (request included)`);
    });
  }

  it('/services/events still answers a JSON GET of a service named "events"', async (t) => {
    const { url } = await startRegistry(t);
    await register(url, registration('events'));
    const res = await call<ServiceRecord>('GET', `${url}/services/events`);
    assert.equal(res.status, 200);
    assert.equal(res.body.name, 'events');
    const feed = await openFeed(t, url, '/services/events', { accept: 'text/event-stream' });
    assert.equal((await feed.next(() => true)).event, 'snapshot');
  });

  it('resumes with Last-Event-ID: only the missed events, then sync, no snapshot', async (t) => {
    const { url } = await startRegistry(t);
    const feed = await openFeed(t, url);
    await feed.next((e) => e.event === 'snapshot');
    await register(url, registration('a'));
    const seen = await feed.next(named('upsert', 'a'));
    feed.close();
    await register(url, registration('b', 5002));
    await call('DELETE', `${url}/services/a`);

    const again = await openFeed(t, url, '/services?watch=true', { 'last-event-id': seen.id! });
    const sync = await again.next((e) => e.event === 'sync');
    assert.deepEqual(
      again.events.map((e) => [e.event, e.id]),
      [
        ['upsert', String(Number(seen.id) + 1)],
        ['delete', String(Number(seen.id) + 2)],
        ['sync', String(Number(seen.id) + 2)],
      ],
    );
    assert.equal((again.events[0]!.json as ServiceRecord).name, 'b');
    assert.deepEqual(sync.json, { index: Number(seen.id) + 2 });
    await register(url, registration('c', 5003));
    await again.next(named('upsert', 'c'));
  });

  it('sends a fresh snapshot when the missed events are no longer buffered, or the id is from the future', async (t) => {
    const { url } = await startRegistry(t, { feedBufferSize: 2 });
    await register(url, registration('a'));
    const old = indexOf((await call('GET', `${url}/services`)).headers);
    for (let i = 0; i < 4; i++) await register(url, registration(`n${i}`, 5002 + i));
    for (const id of [String(old), '999999']) {
      const feed = await openFeed(t, url, '/services?watch=true', { 'last-event-id': id });
      const first = await feed.next(() => true);
      assert.equal(first.event, 'snapshot', `Last-Event-ID ${id}`);
      assert.equal((first.json as { services: unknown[] }).services.length, 5);
      feed.close();
    }
  });

  it('sends load events (no id, no index change) and keep-alive comments', async (t) => {
    const { url } = await startRegistry(t, { keepAliveMs: 100 });
    await register(url, registration('gpu'));
    const feed = await openFeed(t, url);
    const snap = await feed.next((e) => e.event === 'snapshot');
    const hb = await call('POST', `${url}/services/gpu/heartbeat`, { load: { running: 3, waiting: 1, kv_cache_usage: 0.5 } });
    assert.equal(hb.status, 200);
    const load = await feed.next((e) => e.event === 'load');
    const data = load.json as { name: string; load: Record<string, number> };
    assert.equal(data.name, 'gpu');
    assert.deepEqual([data.load.running, data.load.waiting, data.load.kv_cache_usage], [3, 1, 0.5]);
    assert.ok(!/\nid: /.test(feed.raw().split('event: load')[1]!.split('\n\n')[0]!), 'a load event carries no id');
    assert.equal(indexOf((await call('GET', `${url}/services`)).headers), Number(snap.id), 'load is not a change');
    await new Promise((r) => setTimeout(r, 250));
    assert.match(feed.raw(), /^: keep-alive$/m);
  });
});
