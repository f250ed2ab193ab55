// The router with a real registry: it learns of changes from the feed in well under a second,
// keeps routing on its last table when the registry goes away (readiness "degraded"), keeps
// InfiniLM's removal grace period, and reads static services files in every InfiniLM shape.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { registryConfigSchema } from '../../src/registry/config.js';
import { buildRegistry } from '../../src/registry/server.js';
import { parseStaticServices } from '../../src/router/static-services.js';
import { promtoolCheckMetrics } from '../helpers/promtool.js';
import { requireTool } from '../helpers/services.js';
import { chat, sleep, startBackend, startRouter } from './helpers.js';

async function startRegistry(t: TestContext, port = 0): Promise<{ url: string; close(): Promise<void> }> {
  const reg = await buildRegistry(registryConfigSchema.parse({ port, probes: false }));
  t.after(() => reg.close());
  const url = await reg.listen();
  return { url, close: () => reg.close() };
}

async function register(regUrl: string, name: string, port: number, models: string[], extra: Record<string, unknown> = {}): Promise<void> {
  const res = await fetch(`${regUrl}/services`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, host: '127.0.0.1', port, hostname: 'h', url: `http://127.0.0.1:${port}`, status: 'running', metadata: { type: 'openai-api', models, health_check: false, ...extra } }),
  });
  assert.equal(res.status, 201);
}

async function until(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 3000): Promise<number> {
  const start = performance.now();
  while (!(await fn())) {
    if (performance.now() - start > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
  return performance.now() - start;
}

describe('router discovery from the registry', () => {
  it('learns of a registration and a removal from the feed in well under a second', async (t) => {
    const reg = await startRegistry(t);
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, { registryUrl: reg.url, removalGraceMs: 0 });
    await until('feed connected', () => r.admin.readiness().status !== 'ok' || r.table.backends.size === 0);
    const t0 = performance.now();
    await register(reg.url, 'gpu-a', a.port, ['m1']);
    const learned = await until('backend routable', async () => (await chat(r.url, { model: 'm1' })).status === 200);
    assert.ok(performance.now() - t0 < 1000, `learned in ${Math.round(learned)} ms`);
    const del = await fetch(`${reg.url}/services/gpu-a`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    await until('backend gone', async () => (await chat(r.url, { model: 'm1' })).status === 503, 1000);
  });

  it('stops sending new work to a draining backend at once', async (t) => {
    const reg = await startRegistry(t);
    const [a, b] = await Promise.all([startBackend(t, 'a'), startBackend(t, 'b')]);
    const r = await startRouter(t, { registryUrl: reg.url });
    await register(reg.url, 'a', a.port, ['m1']);
    await register(reg.url, 'b', b.port, ['m1']);
    await until('both routable', () => r.admin.readiness().models.m1?.routable === 2);
    await fetch(`${reg.url}/services/a/heartbeat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"status":"draining"}' });
    await until('a draining', () => r.admin.readiness().models.m1?.routable === 1, 1000);
    for (let i = 0; i < 4; i++) assert.equal((await chat(r.url, { model: 'm1' })).headers.get('x-switchboard-backend'), 'b');
  });

  it('keeps routing on its last table when the registry is down, says degraded, and catches up when it returns', async (t) => {
    let reg = await startRegistry(t);
    const port = Number(new URL(reg.url).port);
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, { registryUrl: reg.url });
    await register(reg.url, 'gpu-a', a.port, ['m1']);
    await until('routable', () => r.admin.readiness().status === 'ok');
    await reg.close();
    await until('registry seen down', async () => {
      const res = await fetch(`${r.url}/health/ready`);
      const body = (await res.json()) as { status: string; reasons: string[] };
      return res.status === 200 && body.status === 'degraded' && body.reasons.some((x) => x.includes('unreachable'));
    });
    for (let i = 0; i < 5; i++) assert.equal((await chat(r.url, { model: 'm1' })).status, 200, 'still routing');
    const health = (await (await fetch(`${r.url}/health`)).json()) as { status: string; healthy_services: string };
    assert.deepEqual([health.status, health.healthy_services], ['healthy', '1/1']);
    const m = await (await fetch(`${r.url}/metrics`)).text();
    assert.match(m, /router_registry_up 0/);
    // the registry returns (empty: memory store, no snapshot); the agent would re-register
    reg = await startRegistry(t, port);
    const b = await startBackend(t, 'b');
    await register(reg.url, 'gpu-b', b.port, ['m2']);
    await until('new backend learned after reconnect', async () => (await chat(r.url, { model: 'm2' })).status === 200, 8000);
  });

  it('drops a service the registry no longer lists only after the grace period', async (t) => {
    const reg = await startRegistry(t);
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, { registryUrl: reg.url, removalGraceMs: 400 });
    await register(reg.url, 'gpu-a', a.port, ['m1']);
    await until('known', () => r.table.backends.has('gpu-a'));
    await fetch(`${reg.url}/services/gpu-a`, { method: 'DELETE' });
    await until('not routable', () => !r.table.backends.get('gpu-a')?.up, 1000);
    assert.ok(r.table.backends.has('gpu-a'), 'entry kept during the grace period');
    await until('removed after grace', () => !r.table.backends.has('gpu-a'), 3000);
  });

  it('a deregistered backend is "gone", not "down": readiness stays ok while the rest serve', async (t) => {
    const reg = await startRegistry(t);
    const [a, b] = await Promise.all([startBackend(t, 'a'), startBackend(t, 'b')]);
    const r = await startRouter(t, { registryUrl: reg.url, removalGraceMs: 60_000 });
    await register(reg.url, 'gpu-a', a.port, ['m1']);
    await register(reg.url, 'gpu-b', b.port, ['m1']);
    await until('both routable', () => r.admin.readiness().models.m1?.routable === 2);
    await fetch(`${reg.url}/services/gpu-a`, { method: 'DELETE' });
    await until('gpu-a gone', async () => {
      const s = (await (await fetch(`${r.url}/services`)).json()) as { services: { name: string; state: string }[] };
      return s.services.find((x) => x.name === 'gpu-a')?.state === 'gone';
    }, 1000);
    const ready = (await (await fetch(`${r.url}/health/ready`)).json()) as { status: string; models: Record<string, { routable: number; total: number }> };
    assert.equal(ready.status, 'ok');
    assert.deepEqual(ready.models.m1, { routable: 1, total: 1 });
  });

  it('serves /metrics that promtool accepts', async (t) => {
    if (!requireTool(t, 'promtool')) return;
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, {}, [{ name: 'a', host: '127.0.0.1', port: a.port, url: a.url, status: 'running', healthy: true, metadata: { type: 'openai-api', models: ['m1'] }, static: true }]);
    await (await chat(r.url, { model: 'm1' })).arrayBuffer();
    await (await chat(r.url, { model: 'm1', stream: true })).arrayBuffer();
    const text = await (await fetch(`${r.url}/metrics`)).text();
    assert.match(text, /router_request_duration_seconds_bucket\{model="m1",le="\+Inf"\} 2/);
    const check = promtoolCheckMetrics(text);
    assert.ok(check.ok, check.output);
  });
});

describe('static services file', () => {
  it('reads every InfiniLM shape', () => {
    const entry = { name: 's1', host: '10.0.0.1', port: 8100, weight: 2, metadata: { type: 'openai-api', models: ['m'] } };
    for (const shape of [[entry], { services: [entry] }, { static_services: { services: [entry] } }]) {
      const [s] = parseStaticServices(shape, 'f');
      assert.deepEqual([s?.name, s?.url, s?.weight, s?.static], ['s1', 'http://10.0.0.1:8100', 2, true]);
    }
    assert.equal(parseStaticServices([{ port: 1 }], 'f')[0]?.name, 'service_0');
  });

  it('refuses a malformed entry, naming it', () => {
    assert.throws(() => parseStaticServices({ services: [{ name: 'x', port: 'eighty' }] }, 'static services file s.json'), /s\.json: services\[0\]\.port: expected an integer/);
    assert.throws(() => parseStaticServices({ nothing: true }, 'f'), /expected an array of services/);
  });

  it('a router process reads --static-services and refuses a bad file at start', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-static-'));
    const good = join(dir, 'good.json');
    const a = await startBackend(t, 'a');
    writeFileSync(good, JSON.stringify({ services: [{ name: 'a', host: '127.0.0.1', port: a.port, metadata: { type: 'openai-api', models: ['m1'] } }] }));
    const { spawnSwitchboard, runSwitchboard } = await import('../helpers/process.js');
    const p = spawnSwitchboard(t, ['router', '--router-port', '0', '--static-services', good]);
    const url = await p.listeningUrl();
    assert.equal((await chat(url, { model: 'm1' })).status, 200);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"services": [{"port": 0}]}');
    const r = await runSwitchboard(['router', '--router-port', '0', '--static-services', bad]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /bad\.json: services\[0\]\.port/);
  });
});
