// `switchboard status` against a real registry, router and sim: a healthy fleet exits 0, a
// service whose lease lapsed makes it exit 1 (and the router's readiness degraded), an
// unreachable registry or router exits 1, --json has the documented shape, and --watch redraws
// until SIGINT.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { requestJson } from '../../src/core/index.js';
import type { FleetStatus } from '../../src/tools/status.js';
import { eventually, runSwitchboard, spawnSwitchboard, type SpawnedProcess } from '../helpers/process.js';

const NO_ENV = { SWITCHBOARD_TOKEN: '', SWITCHBOARD_ADMIN_TOKEN: '', SWITCHBOARD_REGISTRY_URL: '', SWITCHBOARD_ROUTER_URL: '' };
const CLEAR = '\x1b[2J';

function status(...args: string[]): ReturnType<typeof runSwitchboard> {
  return runSwitchboard(['status', ...args], { env: NO_ENV });
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

async function register(registry: string, name: string, port: number, models: string[], extra: Record<string, unknown> = {}): Promise<void> {
  const res = await requestJson(`${registry}/services`, {
    body: { name, host: '127.0.0.1', port, hostname: 'test', url: `http://127.0.0.1:${port}`, status: 'running', metadata: { type: 'openai-api', models }, ...extra },
  });
  assert.equal(res.status, 201, res.text);
}

describe('switchboard status', () => {
  const procs: SpawnedProcess[] = [];
  let registryUrl = '';
  let routerUrl = '';

  before(async () => {
    const registry = spawnSwitchboard(undefined, ['registry', '--port', '0', '--no-probes'], { env: NO_ENV });
    const sim = spawnSwitchboard(undefined, ['sim', '--port', '0', '--models', 'st-model', '--decode-ms', '0'], { env: NO_ENV });
    procs.push(registry, sim);
    registryUrl = await registry.listeningUrl();
    const simUrl = await sim.listeningUrl();
    const router = spawnSwitchboard(undefined, ['router', '--router-port', '0', '--registry-url', registryUrl], { env: NO_ENV });
    procs.push(router);
    routerUrl = await router.listeningUrl();
    await register(registryUrl, 'good-server', Number(new URL(simUrl).port), ['st-model']);
    await eventually(async () => (await requestJson<{ status: string }>(`${routerUrl}/health/ready`)).body.status === 'ok');
    const chat = await requestJson(`${routerUrl}/v1/chat/completions`, { body: { model: 'st-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 } });
    assert.equal(chat.status, 200, chat.text);
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop('SIGKILL', 0)));
  });

  it('exits 0 for a healthy fleet and shows each service with its counters', async () => {
    const r = await status('--registry', registryUrl, '--router', routerUrl);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^Registry  ${registryUrl}  healthy  1/1 services healthy`, 'm'));
    assert.match(r.stdout, new RegExp(`^Router    ${routerUrl}  ready: ok  1/1 backends routable  registry connected`, 'm'));
    assert.match(r.stdout, /^NAME\s+STATE\s+MODELS\s+LOAD run\/wait\s+REGISTRY\s+HEARTBEAT\s+REQS\s+ERRS\s+INFLIGHT\s+RESP$/m);
    assert.match(r.stdout, /^good-server\s+up\s+st-model\s+-\s+running probe:unknown\s+[\d.]+s ago\s+1\s+0\s+0\s+[\d.]+s$/m);
    assert.match(r.stdout, /^OK: 1 service: 1 up, 0 down; 1 requests, 0 errors$/m);

    const j = await status('--registry', registryUrl, '--router', routerUrl, '--json');
    assert.equal(j.code, 0);
    const f = JSON.parse(j.stdout) as FleetStatus;
    assert.equal(f.ok, true);
    assert.deepEqual(f.problems, []);
    assert.deepEqual([f.registry?.reachable, f.registry?.status, f.registry?.registered], [true, 'healthy', 1]);
    assert.deepEqual([f.router?.reachable, f.router?.readiness, f.router?.registry?.connected], [true, 'ok', true]);
    const s = f.services[0]!;
    assert.deepEqual([s.name, s.state, s.ok, s.type, s.models], ['good-server', 'up', true, 'openai-api', ['st-model']]);
    assert.equal(s.registry?.isHealthy, true);
    assert.ok(typeof s.registry?.heartbeatAgeS === 'number' && s.registry.heartbeatAgeS >= 0);
    assert.deepEqual([s.router?.state, s.router?.requests, s.router?.errors, s.router?.inFlight], ['up', 1, 0, 0]);
    assert.deepEqual(f.summary, { services: 1, up: 1, down: 0, other: 0, requests: 1, errors: 0 });
  });

  it('exits 1 when a service lost its lease, naming it and the degraded readiness', async () => {
    await register(registryUrl, 'dead-server', await closedPort(), ['dead-model'], { lease_ttl: 0.5 });
    await eventually(async () => (await requestJson<{ is_healthy: boolean }>(`${registryUrl}/services/dead-server`)).body.is_healthy === false);
    await eventually(async () => (await requestJson<{ status: string }>(`${routerUrl}/health/ready`)).body.status === 'degraded');

    const r = await status('--registry', registryUrl, '--router', routerUrl);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^dead-server\s+unhealthy !\s+dead-model\s/m);
    assert.match(r.stdout, /^ {2}- dead-server: registry: lease expired \(no heartbeat for longer than 0\.5s\); router: unhealthy$/m);
    assert.match(r.stdout, /^ {2}- router .*: readiness degraded \(model dead-model: no routable backend\)$/m);
    assert.match(r.stdout, /^DOWN: 2 problems; 2 services: 1 up, 1 down; 1 requests, 0 errors$/m);

    const f = JSON.parse((await status('--registry', registryUrl, '--router', routerUrl, '--json')).stdout) as FleetStatus;
    assert.equal(f.ok, false);
    const dead = f.services.find((s) => s.name === 'dead-server')!;
    assert.deepEqual([dead.ok, dead.registry?.isHealthy, dead.registry?.leaseTtlS, dead.router?.state], [false, false, 0.5, 'unhealthy']);
    assert.equal(f.summary.down, 1);

    // the registry alone judges by its records: the stale one is still a problem
    const reg = await status('--registry', registryUrl);
    assert.equal(reg.code, 1);
    assert.match(reg.stdout, /^dead-server\s+stale !/m);
    assert.doesNotMatch(reg.stdout, /^Router/m);
  });

  it('exits 1 when the registry or the router cannot be reached', async () => {
    const port = await closedPort();
    const r = await status('--registry', `http://127.0.0.1:${port}`, '--router', routerUrl);
    assert.equal(r.code, 1);
    assert.match(r.stdout, new RegExp(`^Registry  http://127\\.0\\.0\\.1:${port}  DOWN  unreachable: .*ECONNREFUSED`, 'm'));
    const j = JSON.parse((await status('--router', `http://127.0.0.1:${port}`, '--json')).stdout) as FleetStatus;
    assert.deepEqual([j.ok, j.registry, j.router?.reachable], [false, null, false]);
    assert.match(j.problems[0]!, /unreachable/);
    const usage = await status('--registry', 'localhost:8081');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--registry: expected an http:\/\/ or https:\/\/ URL/);
  });

  it('--watch redraws until SIGINT, then exits with the last verdict', async (t) => {
    const watch = spawnSwitchboard(t, ['status', '--registry', registryUrl, '--router', routerUrl, '--watch', '0.2'], { env: NO_ENV });
    await eventually(() => watch.lines.filter((l) => l.includes(CLEAR)).length >= 2, 15_000);
    assert.ok(watch.lines.some((l) => /^Refreshing every 0\.2s; Ctrl-C to stop\.$/.test(l)));
    watch.child.kill('SIGINT');
    // dead-server is still registered and stale: the last verdict was "down"
    assert.equal(await watch.exited, 1);

    const jsonWatch = spawnSwitchboard(t, ['status', '--router', routerUrl, '--watch', '0.2', '--json'], { env: NO_ENV });
    await eventually(() => jsonWatch.lines.filter((l) => l.startsWith('{"ok":')).length >= 2, 15_000);
    assert.ok(!jsonWatch.lines.some((l) => l.includes(CLEAR)), 'JSON output never clears the screen');
    jsonWatch.child.kill('SIGINT');
    assert.equal(await jsonWatch.exited, 1);
  });

  it('a backend that left the registry is "gone", not down, while the router holds it', async () => {
    // the router keeps a deregistered backend through its removal grace period (60 s) as "gone",
    // outside its readiness; after a drain or a validate run that must not read as an outage
    const del = await requestJson(`${registryUrl}/services/dead-server`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    const r = await status('--registry', registryUrl, '--router', routerUrl);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^Router {4}\S+ {2}ready: ok {2}1\/2 backends routable/m);
    assert.match(r.stdout, /^dead-server\s+gone\s+dead-model\s+-\s+-\s+-\s+0\s+0\s+0\s+-$/m);
    assert.match(r.stdout, /^OK: 2 services: 1 up, 0 down, 1 other; 1 requests, 0 errors$/m);
    const f = JSON.parse((await status('--registry', registryUrl, '--router', routerUrl, '--json')).stdout) as FleetStatus;
    assert.deepEqual([f.ok, f.router?.readiness, f.router?.readinessDiscounted], [true, 'ok', false]);
    // the router says "gone" itself, so it alone is enough to tell
    assert.equal((await status('--router', routerUrl)).code, 0);
  });
});
