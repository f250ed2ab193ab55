// The registry's REST API against InfiniLM-SVC's (reference §1.3), field by field, on a real
// registry: endpoints, status codes, response keys in the original's order, filters, messages;
// and bad input (invalid JSON, missing or ill-typed fields, 413, 404) that leaves nothing half-written.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceRecord } from '../../src/registry/record.js';
import { promtoolCheckMetrics } from '../helpers/promtool.js';
import { requireTool } from '../helpers/services.js';
import { call, register, registration, startBackend, startRegistry } from './helpers.js';

const RECORD_KEYS = ['name', 'host', 'port', 'hostname', 'url', 'status', 'timestamp', 'last_heartbeat', 'health_status', 'metadata', 'is_healthy', 'lease_ttl'];
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/;

describe('registry API: InfiniLM-SVC wire compatibility', () => {
  it('registers with 201, the original message and the record with the original keys in order', async (t) => {
    const { url } = await startRegistry(t);
    const before = Date.now() / 1000;
    const res = await call<{ message: string; service: ServiceRecord }>('POST', `${url}/services`, registration('mock-service', 5001, { weight: 3 }));
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.deepEqual(Object.keys(res.body), ['message', 'service']);
    assert.equal(res.body.message, "Service 'mock-service' registered successfully");
    const s = res.body.service;
    assert.deepEqual(Object.keys(s), RECORD_KEYS, 'original keys first, in the original order, then ours');
    assert.deepEqual(
      { name: s.name, host: s.host, port: s.port, hostname: s.hostname, url: s.url, status: s.status, health_status: s.health_status, is_healthy: s.is_healthy },
      { name: 'mock-service', host: '127.0.0.1', port: 5001, hostname: '127.0.0.1', url: 'http://127.0.0.1:5001', status: 'running', health_status: 'unknown', is_healthy: true },
    );
    assert.deepEqual(s.metadata, { type: 'openai-api', test: true, description: 'Mock service for testing' });
    assert.match(s.timestamp, ISO);
    assert.equal(typeof s.last_heartbeat, 'number');
    assert.ok(s.last_heartbeat >= before - 1 && s.last_heartbeat <= Date.now() / 1000 + 1, 'last_heartbeat is Unix seconds');
    assert.equal(s.lease_ttl, 120);
    assert.ok(!res.text.includes('weight'), 'unknown keys are ignored, as in the original');
    assert.ok(!res.text.includes(': '), 'compact JSON, which deployment scripts grep');

    const one = await call<ServiceRecord>('GET', `${url}/services/mock-service`);
    assert.equal(one.status, 200);
    assert.deepEqual(Object.keys(one.body), RECORD_KEYS);
    assert.equal(one.body.name, 'mock-service');
  });

  it('keeps a client-supplied timestamp, defaults metadata to {}, and re-registering replaces the whole record', async (t) => {
    const { url } = await startRegistry(t);
    const body = registration('svc', 5001, { timestamp: '2026-11-22T11:04:16.210140' });
    delete body.metadata;
    const first = await register(url, body);
    assert.equal(first.timestamp, '2026-11-22T11:04:16.210140');
    assert.deepEqual(first.metadata, {});
    const second = await register(url, registration('svc', 6001, { status: 'starting' }));
    assert.equal(second.port, 6001);
    assert.equal(second.status, 'starting');
    assert.equal(second.is_healthy, false, 'only "running" counts as healthy');
    const list = await call<{ services: ServiceRecord[] }>('GET', `${url}/services`);
    assert.equal(list.body.services.length, 1);
  });

  it('checks required fields in the original order and names the first one missing', async (t) => {
    const { url } = await startRegistry(t);
    const full = registration('svc');
    const order = ['name', 'host', 'port', 'hostname', 'url', 'status'];
    for (let i = 0; i < order.length; i++) {
      const body: Record<string, unknown> = { ...full };
      for (const f of order.slice(i)) delete body[f];
      const res = await call('POST', `${url}/services`, body);
      assert.equal(res.status, 400);
      assert.deepEqual(res.body, { error: `Missing required field: ${order[i]}`, code: 'SB_ERR_MISSING_FIELD' });
    }
    // the original answered a JSON array with the first field
    const arr = await call('POST', `${url}/services`, '[1,2]');
    assert.deepEqual(arr.body, { error: 'Missing required field: name', code: 'SB_ERR_MISSING_FIELD' });
    assert.equal((await call<{ total: number }>('GET', `${url}/services`)).body.total, 0, 'nothing registered');
  });

  it('refuses an ill-typed field with 400 naming the field, and stores nothing', async (t) => {
    const { url } = await startRegistry(t);
    const cases: [Record<string, unknown>, string][] = [
      [{ port: '5001' }, 'port'],
      [{ port: 70000 }, 'port'],
      [{ host: 5 }, 'host'],
      [{ name: '' }, 'name'],
      [{ name: 'a/b' }, 'name'],
      [{ url: 'ftp://x' }, 'url'],
      [{ status: null }, 'status'],
      [{ metadata: [1] }, 'metadata'],
      [{ lease_ttl: -1 }, 'lease_ttl'],
      [{ timestamp: 12 }, 'timestamp'],
    ];
    for (const [patch, field] of cases) {
      const res = await call<{ error: string; code: string }>('POST', `${url}/services`, { ...registration('svc'), ...patch });
      assert.equal(res.status, 400, JSON.stringify(patch));
      assert.equal(res.body.code, 'SB_ERR_INVALID_FIELD');
      assert.ok(res.body.error.startsWith(`Invalid field '${field}': expected `), res.body.error);
    }
    assert.equal((await call<{ total: number }>('GET', `${url}/services`)).body.total, 0);
  });

  it('answers invalid JSON, an empty and a null body with 400 "Invalid JSON"', async (t) => {
    const { url } = await startRegistry(t);
    for (const raw of ['{"name": "x",', '', 'null', '"text"']) {
      const res = await call<{ error: string; code: string }>('POST', `${url}/services`, raw);
      assert.equal(res.status, 400, raw);
      assert.equal(res.body.code, 'SB_ERR_INVALID_JSON');
      assert.match(res.body.error, /^Invalid JSON/);
    }
    await register(url, registration('svc'));
    const put = await call<{ code: string }>('PUT', `${url}/services/svc`, '{oops');
    assert.equal(put.status, 400);
    assert.equal(put.body.code, 'SB_ERR_INVALID_JSON');
  });

  it('refuses an oversized body with 413 and stores nothing', async (t) => {
    const { url } = await startRegistry(t, { maxBodyBytes: 1024 });
    const big = registration('big', 5001, { metadata: { blob: 'x'.repeat(4096) } });
    const res = await call<{ error: string; code: string }>('POST', `${url}/services`, big);
    assert.equal(res.status, 413);
    assert.equal(res.body.code, 'SB_ERR_BODY_TOO_LARGE');
    assert.match(res.body.error, /1024 bytes/);
    assert.equal((await call('GET', `${url}/services/big`)).status, 404);
    await register(url, registration('small'));
    assert.equal((await call('PUT', `${url}/services/small`, { metadata: { blob: 'y'.repeat(4096) } })).status, 413);
    assert.deepEqual((await call<ServiceRecord>('GET', `${url}/services/small`)).body.metadata, registration('small').metadata);
  });

  it('answers 404 with the original message for every per-service endpoint of an unknown service', async (t) => {
    const { url } = await startRegistry(t);
    const probes: [string, string, unknown?][] = [
      ['GET', '/services/ghost'],
      ['PUT', '/services/ghost', { status: 'running' }],
      ['DELETE', '/services/ghost'],
      ['POST', '/services/ghost/heartbeat'],
      ['GET', '/services/ghost/health'],
    ];
    for (const [method, path, body] of probes) {
      const res = await call(method, url + path, body);
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.deepEqual(res.body, { error: "Service 'ghost' not found", code: 'SB_ERR_SERVICE_NOT_FOUND' });
    }
    // as in the original, the lookup comes first: an unknown service with a bad body is still a 404
    assert.equal((await call('PUT', `${url}/services/ghost`, '{bad json')).status, 404);
    assert.equal((await call('PUT', `${url}/services/ghost`, { port: 'x' })).status, 404);
    assert.equal((await call('POST', `${url}/services/ghost/heartbeat`, { status: 42 })).status, 404);
    const unknownRoute = await call<{ code: string }>('GET', `${url}/nope`);
    assert.equal(unknownRoute.status, 404);
    assert.equal(unknownRoute.body.code, 'SB_ERR_NOT_FOUND');
    assert.equal((await call('PATCH', `${url}/stats`)).status, 405);
  });

  it('updates with PUT (metadata replaced, heartbeat refreshed); a bad PUT changes nothing', async (t) => {
    const { url } = await startRegistry(t);
    const reg = await register(url, registration('svc', 5001, { metadata: { type: 'openai-api', models: ['a'] } }));
    await new Promise((r) => setTimeout(r, 20));
    const res = await call<{ message: string; service: ServiceRecord }>('PUT', `${url}/services/svc`, { port: 5002, metadata: { models: ['b'] } });
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.body), ['message', 'service']);
    assert.equal(res.body.message, "Service 'svc' updated successfully");
    assert.equal(res.body.service.port, 5002);
    assert.deepEqual(res.body.service.metadata, { models: ['b'] }, 'metadata is replaced, not merged');
    assert.ok(res.body.service.last_heartbeat > reg.last_heartbeat, 'PUT refreshes last_heartbeat');

    const before = (await call<ServiceRecord>('GET', `${url}/services/svc`)).body;
    const bad = await call<{ code: string; error: string }>('PUT', `${url}/services/svc`, { status: 'draining', host: 'h2', port: 'nope' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'SB_ERR_INVALID_FIELD');
    assert.match(bad.body.error, /'port'/);
    const after = (await call<ServiceRecord>('GET', `${url}/services/svc`)).body;
    assert.deepEqual(after, before, 'the valid fields of a refused PUT were not applied');
  });

  it('deregisters with the original message', async (t) => {
    const { url } = await startRegistry(t);
    await register(url, registration('svc'));
    const res = await call('DELETE', `${url}/services/svc`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { message: "Service 'svc' unregistered successfully" });
    assert.equal((await call('GET', `${url}/services/svc`)).status, 404);
  });

  it('takes heartbeats with an empty, non-JSON or status-carrying body', async (t) => {
    const { url } = await startRegistry(t);
    const reg = await register(url, registration('svc'));
    await new Promise((r) => setTimeout(r, 20));
    for (const body of [undefined, 'not json', '{}']) {
      const res = await call<{ message: string; timestamp: string }>('POST', `${url}/services/svc/heartbeat`, body);
      assert.equal(res.status, 200);
      assert.deepEqual(Object.keys(res.body), ['message', 'timestamp']);
      assert.equal(res.body.message, 'Heartbeat received');
      assert.match(res.body.timestamp, ISO);
    }
    const s = (await call<ServiceRecord>('GET', `${url}/services/svc`)).body;
    assert.ok(s.last_heartbeat > reg.last_heartbeat, 'the heartbeat refreshed last_heartbeat');
    const bad = await call<{ error: string }>('POST', `${url}/services/svc/heartbeat`, { status: 42 });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /^Invalid field 'status'/);
    assert.equal((await call('POST', `${url}/services/svc/heartbeat`, { status: 'draining' })).status, 200);
    const drained = (await call<ServiceRecord>('GET', `${url}/services/svc`)).body;
    assert.equal(drained.status, 'draining');
    assert.equal(drained.is_healthy, false);
  });

  it('filters /services by ?healthy= and ?status= exactly as the original did', async (t) => {
    const { url } = await startRegistry(t);
    await register(url, registration('up-1'));
    await register(url, registration('starting-1', 5002, { status: 'starting' }));
    await register(url, registration('up-2', 5003));
    const names = async (qs: string): Promise<string[]> => {
      const res = await call<{ services: ServiceRecord[]; total: number; timestamp: string }>('GET', `${url}/services${qs}`);
      assert.equal(res.status, 200);
      assert.deepEqual(Object.keys(res.body), ['services', 'total', 'timestamp']);
      assert.equal(res.body.total, res.body.services.length);
      assert.match(res.body.timestamp, ISO);
      return res.body.services.map((s) => s.name);
    };
    assert.deepEqual(await names(''), ['up-1', 'starting-1', 'up-2'], 'insertion order');
    assert.deepEqual(await names('?healthy=true'), ['up-1', 'up-2']);
    assert.deepEqual(await names('?healthy=TRUE'), ['up-1', 'up-2'], 'case-insensitive');
    assert.deepEqual(await names('?healthy=false'), ['starting-1']);
    assert.deepEqual(await names('?healthy=no'), ['starting-1'], 'any other non-empty value means unhealthy only');
    assert.deepEqual(await names('?healthy='), ['up-1', 'starting-1', 'up-2'], 'empty means no filter (Py)');
    assert.deepEqual(await names('?status=starting'), ['starting-1']);
    assert.deepEqual(await names('?status=Running'), [], 'exact match');
    assert.deepEqual(await names('?status='), ['up-1', 'starting-1', 'up-2']);
    assert.deepEqual(await names('?status=running&healthy=false'), []);
    assert.deepEqual(await names('?status=starting&healthy=false'), ['starting-1']);
  });

  it('answers /health and /stats with the original keys', async (t) => {
    const { url } = await startRegistry(t);
    await register(url, registration('a'));
    await register(url, { ...registration('b', 5002, { status: 'stopped' }), host: '10.0.0.2' });
    await register(url, registration('c', 5003));
    const health = await call<Record<string, unknown>>('GET', `${url}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(Object.keys(health.body).slice(0, 5), ['status', 'registry', 'registered_services', 'healthy_services', 'timestamp']);
    assert.deepEqual([health.body.status, health.body.registry, health.body.registered_services, health.body.healthy_services], ['healthy', 'running', 3, 2]);
    const stats = await call<Record<string, unknown>>('GET', `${url}/stats`);
    assert.equal(stats.status, 200);
    assert.deepEqual(Object.keys(stats.body), ['total_services', 'healthy_services', 'unhealthy_services', 'status_distribution', 'host_distribution', 'uptime', 'timestamp']);
    assert.equal(stats.body.total_services, 3);
    assert.equal(stats.body.healthy_services, 2);
    assert.equal(stats.body.unhealthy_services, 1);
    assert.deepEqual(stats.body.status_distribution, { running: 2, stopped: 1 });
    assert.deepEqual(stats.body.host_distribution, { '127.0.0.1': 2, '10.0.0.2': 1 });
    assert.equal(typeof stats.body.uptime, 'number');
  });

  it('GET /services/{name}/health probes the service now; a good answer refreshes last_heartbeat', async (t) => {
    const { url } = await startRegistry(t);
    const backend = await startBackend(t);
    const reg = await register(url, { ...registration('web', backend.port), metadata: { type: 'babysitter' } });
    await new Promise((r) => setTimeout(r, 20));
    const ok = await call<Record<string, unknown>>('GET', `${url}/services/web/health`);
    assert.equal(ok.status, 200);
    assert.deepEqual(Object.keys(ok.body), ['service', 'health_status', 'is_healthy', 'last_heartbeat', 'timestamp']);
    assert.equal(ok.body.service, 'web');
    assert.equal(ok.body.health_status, 'healthy');
    assert.equal(ok.body.is_healthy, true);
    assert.ok((ok.body.last_heartbeat as number) > reg.last_heartbeat);
    assert.deepEqual(backend.hits.map((h) => h.path), ['/health'], 'non-openai-api records are probed at <url>/health');

    backend.status = 503;
    const bad = await call<Record<string, unknown>>('GET', `${url}/services/web/health`);
    assert.equal(bad.body.health_status, 'unhealthy');
    assert.equal(bad.body.is_healthy, false, 'unlike the original, a failing probe takes the record out of rotation');
  });

  it('/metrics is valid Prometheus text (promtool) and counts records, heartbeats and requests', async (t) => {
    if (!requireTool(t, 'promtool')) return;
    const { url } = await startRegistry(t);
    await register(url, registration('a'));
    await register(url, registration('b', 5002, { status: 'starting' }));
    await call('POST', `${url}/services/a/heartbeat`);
    await call('POST', `${url}/services/ghost/heartbeat`);
    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const check = promtoolCheckMetrics(text);
    assert.ok(check.ok, check.output);
    assert.match(text, /^registry_services\{state="healthy"\} 1$/m);
    assert.match(text, /^registry_services\{state="not_running"\} 1$/m);
    assert.match(text, /^registry_heartbeats_total\{result="ok"\} 1$/m);
    assert.match(text, /^registry_heartbeats_total\{result="unknown_service"\} 1$/m);
    assert.match(text, /^registry_record_changes_total\{change="registered"\} 2$/m);
    assert.match(text, /^registry_http_requests_total\{method="POST",route="\/services",code="201"\} 2$/m);
    assert.match(text, /^registry_http_requests_total\{method="POST",route="\/services\/:name\/heartbeat",code="404"\} 1$/m);
  });
});
