// Leases: a record is healthy while its heartbeat is younger than its lease (per record, or the
// registry default), the change feed says so when it lapses, a heartbeat revives it, and the
// clean-up removes it once its heartbeat is older than the clean-up age. Short times throughout.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceRecord } from '../../src/registry/record.js';
import { eventually } from '../helpers/process.js';
import { call, openFeed, register, registration, startRegistry, type FeedEvent } from './helpers.js';

const SHORT = { leaseCheckIntervalMs: 50, cleanupIntervalMs: 100, cleanupAgeMs: 1200 };

const isUpsert = (name: string, healthy: boolean) => (e: FeedEvent) =>
  e.event === 'upsert' && (e.json as ServiceRecord).name === name && (e.json as ServiceRecord).is_healthy === healthy;

describe('registry leases and clean-up', () => {
  it('a lapsed lease makes is_healthy false (and the feed says so); a heartbeat revives it; clean-up removes it', async (t) => {
    const { url } = await startRegistry(t, SHORT);
    const feed = await openFeed(t, url);
    await feed.next((e) => e.event === 'snapshot');
    const reg = await register(url, registration('short', 5001, { lease_ttl: 0.3 }));
    assert.equal(reg.lease_ttl, 0.3);
    assert.equal(reg.is_healthy, true);
    await register(url, registration('steady', 5002, { lease_ttl: 30 }));
    const keepSteady = setInterval(() => void call('POST', `${url}/services/steady/heartbeat`).catch(() => undefined), 200);
    t.after(() => clearInterval(keepSteady));

    await feed.next(isUpsert('short', false), 3000);
    const mark = feed.events.length;
    const lapsed = (await call<ServiceRecord>('GET', `${url}/services/short`)).body;
    assert.equal(lapsed.is_healthy, false);
    assert.equal(lapsed.status, 'running', 'the record stays, only its health changes');
    const healthyNames = (await call<{ services: ServiceRecord[] }>('GET', `${url}/services?healthy=true`)).body.services.map((s) => s.name);
    assert.deepEqual(healthyNames, ['steady']);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /^registry_services\{state="stale"\} 1$/m);

    assert.equal((await call('POST', `${url}/services/short/heartbeat`)).status, 200);
    assert.equal((await call<ServiceRecord>('GET', `${url}/services/short`)).body.is_healthy, true);
    await feed.next(isUpsert('short', true), 3000, mark); // the revival is announced

    // no more heartbeats: lapses again, then the clean-up removes it (and only it)
    await feed.next((e) => e.event === 'delete' && (e.json as { name: string }).name === 'short', 5000);
    assert.equal((await call('GET', `${url}/services/short`)).status, 404);
    assert.equal((await call('GET', `${url}/services/steady`)).status, 200, 'a record that heartbeats stays');
    const after = await (await fetch(`${url}/metrics`)).text();
    assert.match(after, /^registry_record_changes_total\{change="expired"\} 1$/m);
  });

  it('records without lease_ttl get the registry default lease', async (t) => {
    const { url } = await startRegistry(t, { ...SHORT, leaseTtlMs: 250 });
    const reg = await register(url, registration('plain'));
    assert.equal(reg.lease_ttl, 0.25);
    await eventually(async () => (await call<ServiceRecord>('GET', `${url}/services/plain`)).body.is_healthy === false, 3000);
  });

  it('keeps records whose heartbeats arrive within the lease healthy', async (t) => {
    const { url } = await startRegistry(t, SHORT);
    await register(url, registration('beating', 5001, { lease_ttl: 1 }));
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 100));
      assert.equal((await call('POST', `${url}/services/beating/heartbeat`)).status, 200);
      assert.equal((await call<ServiceRecord>('GET', `${url}/services/beating`)).body.is_healthy, true, `after ${(i + 1) * 100} ms`);
    }
  });
});
