// Active probes against a real HTTP backend: a record turns unhealthy only after `probeFall`
// consecutive failed probes and healthy again only after `probeRise` good ones; metadata.health_url
// and the InfiniLM port + 1 rule pick the target; probes are bounded and never pile up.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HealthStatus, ServiceRecord, StoredService } from '../../src/registry/record.js';
import { probeTargets } from '../../src/registry/prober.js';
import { eventually } from '../helpers/process.js';
import { call, openFeed, register, registration, sleep, startBackend, startRegistry } from './helpers.js';

const FAST_PROBES = { probes: true, healthIntervalMs: 120, healthTimeoutMs: 1000, probeFall: 3, probeRise: 2 };

describe('registry active probes', () => {
  it('turns unhealthy only after probeFall consecutive failures, and healthy after probeRise successes', async (t) => {
    const { url, registry } = await startRegistry(t, FAST_PROBES);
    const backend = await startBackend(t);
    const feed = await openFeed(t, url);
    await register(url, { ...registration('web', backend.port), metadata: { type: 'babysitter' } });
    await eventually(async () => (await registry.store.get('web'))?.healthStatus === 'healthy', 5000);
    assert.ok(backend.hits.every((h) => h.path === '/health'), 'non-openai-api records are probed at <url>/health');

    // the state the registry holds when each failing (then each good) probe arrives
    const seenAtFail: HealthStatus[] = [];
    const seenAtOk: HealthStatus[] = [];
    let phase: 'fail' | 'rise' = 'fail';
    backend.onHit = async (hit) => {
      const health = (await registry.store.get('web'))!.healthStatus;
      if (hit.status !== 200) seenAtFail.push(health);
      else if (phase === 'rise') seenAtOk.push(health);
    };
    backend.status = 500;
    await eventually(async () => (await registry.store.get('web'))?.healthStatus === 'unhealthy', 5000);
    backend.status = 200;
    phase = 'rise';
    assert.ok(seenAtFail.length >= 3, `${seenAtFail.length} failed probes`);
    assert.deepEqual(seenAtFail.slice(0, 3), ['healthy', 'healthy', 'healthy'], 'still healthy after 1 and 2 failures');
    assert.ok(seenAtFail.slice(3).every((h) => h === 'unhealthy'));
    const down = (await call<ServiceRecord>('GET', `${url}/services/web`)).body;
    assert.equal(down.health_status, 'unhealthy');
    assert.equal(down.is_healthy, false, 'a failing probe takes the record out of rotation');
    await feed.next((e) => e.event === 'upsert' && (e.json as ServiceRecord).health_status === 'unhealthy' && (e.json as ServiceRecord).is_healthy === false);

    await eventually(async () => (await registry.store.get('web'))?.healthStatus === 'healthy', 5000);
    assert.ok(seenAtOk.length >= 2, `${seenAtOk.length} good probes`);
    assert.deepEqual(seenAtOk.slice(0, 2), ['unhealthy', 'unhealthy'], 'still unhealthy after one good probe');
    assert.equal((await call<ServiceRecord>('GET', `${url}/services/web`)).body.is_healthy, true);
    await feed.next((e) => e.event === 'upsert' && (e.json as ServiceRecord).health_status === 'healthy' && (e.json as ServiceRecord).is_healthy);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /^registry_probes_total\{result="fail"\} [1-9]\d*$/m);
  });

  it('probes metadata.health_url when given, instead of the record URL', async (t) => {
    const { url, registry } = await startRegistry(t, FAST_PROBES);
    const backend = await startBackend(t);
    // nothing listens on the record's own URL; only health_url answers
    await register(url, { ...registration('custom', 1), metadata: { type: 'openai-api', health_url: `${backend.url}/ready?deep=1` } });
    await eventually(async () => (await registry.store.get('custom'))?.healthStatus === 'healthy', 5000);
    assert.ok(backend.hits.length > 0 && backend.hits.every((h) => h.path === '/ready?deep=1'), JSON.stringify(backend.hits.map((h) => h.path)));
  });

  it('probes an openai-api record at its babysitter, port + 1 (the InfiniLM rule)', async (t) => {
    const { url, registry } = await startRegistry(t, FAST_PROBES);
    const babysitter = await startBackend(t);
    await register(url, { ...registration('engine', babysitter.port - 1), metadata: { type: 'openai-api', models: ['m'] } });
    await eventually(async () => (await registry.store.get('engine'))?.healthStatus === 'healthy', 5000);
    assert.equal(babysitter.hits[0]?.path, '/health');
    const s = { host: '10.0.0.5', port: 8100, url: 'http://10.0.0.5:8100', metadata: { type: 'openai-api' } } as unknown as StoredService;
    assert.deepEqual(probeTargets(s), ['http://10.0.0.5:8101/health', 'http://10.0.0.5:8100/health']);
    assert.deepEqual(probeTargets({ ...s, metadata: {} }), ['http://10.0.0.5:8100/health']);
  });

  it('counts a probe that outlives the timeout as failed', async (t) => {
    const { url, registry } = await startRegistry(t, { ...FAST_PROBES, healthTimeoutMs: 100, probeFall: 1 });
    const backend = await startBackend(t);
    backend.delayMs = 400;
    await register(url, { ...registration('slow', backend.port), metadata: {} });
    await eventually(async () => (await registry.store.get('slow'))?.healthStatus === 'unhealthy', 5000);
  });

  it('keeps at most probeConcurrency probes in flight and never probes one record twice at once', async (t) => {
    const { url } = await startRegistry(t, { ...FAST_PROBES, healthIntervalMs: 100, probeConcurrency: 2 });
    const backend = await startBackend(t);
    backend.delayMs = 300; // each probe takes three intervals
    for (let i = 0; i < 6; i++) await register(url, { ...registration(`s${i}`, backend.port), metadata: { health_url: `${backend.url}/slow/${i}` } });
    await eventually(() => new Set(backend.hits.map((h) => h.path)).size === 6, 8000);
    await sleep(500);
    assert.ok(backend.maxInFlight <= 2, `at most 2 probes at once, saw ${backend.maxInFlight}`);
    assert.equal(backend.maxInFlightPerPath, 1, 'a record still being probed is skipped, not probed again');
  });
});
