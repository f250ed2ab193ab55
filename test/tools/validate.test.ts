// `switchboard validate` as a real process: self-contained it starts a registry, a router and two
// sims, passes every step and leaves no process behind; against broken fleets (a registry that is
// down, a fleet model whose backend answers 500, a router that does not watch the registry) it
// reports FAIL and exits 1; Ctrl-C still cleans up, stops what it started and exits 130; a
// SIGKILL leaves no process behind.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { requestJson } from '../../src/core/index.js';
import type { ValidationReport } from '../../src/tools/validate/pipeline.js';
import { eventually, runSwitchboard, spawnSwitchboard } from '../helpers/process.js';

const NO_ENV = { SWITCHBOARD_TOKEN: '', SWITCHBOARD_ADMIN_TOKEN: '', SWITCHBOARD_REGISTRY_URL: '' };
const ALL_STEPS = ['fleet', 'registry', 'router', 'backends', 'register', 'discovery', 'chat', 'stream', 'round-robin', 'models', 'errors', 'deregister', 'cleanup'];

function validate(...args: string[]): ReturnType<typeof runSwitchboard> {
  return runSwitchboard(['validate', ...args], { env: NO_ENV, timeoutMs: 50_000 });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every "pid N" a report's details mention (the processes validate started). */
function pids(text: string): number[] {
  return [...text.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
}

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

function step(rep: ValidationReport, id: string): ValidationReport['steps'][number] {
  const s = rep.steps.find((x) => x.id === id);
  assert.ok(s, `no step ${id} in ${rep.steps.map((x) => x.id).join(', ')}`);
  return s;
}

describe('switchboard validate', () => {
  it('self-contained: every step passes, exit 0, and nothing it started is left running', async () => {
    const r = await validate('--json');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const rep = JSON.parse(r.stdout) as ValidationReport;
    assert.deepEqual(rep.steps.map((s) => s.id), ALL_STEPS);
    assert.deepEqual(rep.steps.filter((s) => s.status !== 'PASS'), []);
    assert.deepEqual(rep.summary, { passed: ALL_STEPS.length, failed: 0, skipped: 0 });
    assert.equal(rep.mode, 'self-contained');
    assert.match(step(rep, 'round-robin').detail, /went to (\S+)-a-server, \1-b-server, \1-a-server, \1-b-server$|went to (\S+)-b-server, \2-a-server, \2-b-server, \2-a-server$/);
    assert.match(step(rep, 'errors').detail, /unknown model → 503 "No healthy services available for model 'validate-\w+-no-such-model'"; invalid JSON → 400/);
    const started = pids(JSON.stringify(rep.steps));
    assert.equal(started.length, 4, 'registry, router and two sims');
    for (const pid of started) assert.equal(alive(pid), false, `pid ${pid} still running`);

    const text = await validate();
    assert.equal(text.code, 0, text.stdout);
    assert.match(text.stdout, /^PASS {2}round robin {2,}\[non-stream, non-stream, stream, stream\] went to /m);
    assert.match(text.stdout, /^PASS {2}clean-up {2,}no test record left in the registry; the router answers 503 for validate-\w+; stopped 2 test backends/m);
    assert.match(text.stdout, /^13 passed, 0 failed\n$/m);
  });

  it('fails when the registry is down: FAIL, dependent steps skipped, exit 1, test backends stopped', async (t) => {
    const router = spawnSwitchboard(t, ['router', '--router-port', '0'], { env: NO_ENV });
    const routerUrl = await router.listeningUrl();
    const r = await validate('--registry', `http://127.0.0.1:${await closedPort()}`, '--router', routerUrl, '--json');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const rep = JSON.parse(r.stdout) as ValidationReport;
    assert.equal(rep.ok, false);
    assert.equal(rep.steps.some((s) => s.id === 'fleet'), false, 'a running fleet is not started');
    assert.equal(step(rep, 'registry').status, 'FAIL');
    assert.match(step(rep, 'registry').detail, /GET http:\/\/127\.0\.0\.1:\d+\/health: .*ECONNREFUSED/);
    assert.equal(step(rep, 'router').status, 'PASS');
    assert.deepEqual([step(rep, 'register').status, step(rep, 'register').detail], ['SKIP', 'needs registry (FAIL)']);
    assert.equal(step(rep, 'chat').status, 'SKIP');
    // the error cases need only the router, and it answers them rightly
    assert.equal(step(rep, 'errors').status, 'PASS');
    assert.equal(step(rep, 'cleanup').status, 'PASS');
    assert.ok(rep.summary.failed >= 1 && rep.summary.skipped >= 1);
    const sims = pids(step(rep, 'backends').detail);
    assert.equal(sims.length, 2);
    for (const pid of sims) assert.equal(alive(pid), false, `test backend pid ${pid} still running`);

    const text = await validate('--registry', `http://127.0.0.1:${await closedPort()}`, '--router', routerUrl);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /^FAIL {2}registry health {2,}GET /m);
    assert.match(text.stdout, /^\d+ passed, 1 failed, \d+ skipped$/m);
  });

  it('fails a fleet model whose backend answers 500, and a router that does not watch the registry', async (t) => {
    const registry = spawnSwitchboard(t, ['registry', '--port', '0', '--no-probes'], { env: NO_ENV });
    const broken = spawnSwitchboard(t, ['sim', '--port', '0', '--models', 'prod-model', '--fault-error-rate', '1'], { env: NO_ENV });
    const registryUrl = await registry.listeningUrl();
    const brokenPort = Number(new URL(await broken.listeningUrl()).port);
    const router = spawnSwitchboard(t, ['router', '--router-port', '0', '--registry-url', registryUrl], { env: NO_ENV });
    const routerUrl = await router.listeningUrl();
    const reg = await requestJson(`${registryUrl}/services`, {
      body: { name: 'broken-server', host: '127.0.0.1', port: brokenPort, hostname: 'test', url: `http://127.0.0.1:${brokenPort}`, status: 'running', metadata: { type: 'openai-api', models: ['prod-model'] } },
    });
    assert.equal(reg.status, 201);
    await eventually(async () => (await requestJson<{ data: { id: string }[] }>(`${routerUrl}/v1/models`)).body.data.some((m) => m.id === 'prod-model'));

    const r = await validate('--registry', registryUrl, '--router', routerUrl, '--model', 'prod-model', '--json');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const rep = JSON.parse(r.stdout) as ValidationReport;
    // the pipeline itself passes on this fleet; only the model served by the failing backend fails
    assert.deepEqual(rep.steps.filter((s) => s.status !== 'PASS').map((s) => s.id), ['model:prod-model']);
    assert.match(step(rep, 'model:prod-model').detail, /^non-stream: HTTP 5\d\d/);
    // a running fleet has every step but 'fleet', plus the model step
    assert.deepEqual(rep.summary, { passed: ALL_STEPS.length - 1, failed: 1, skipped: 0 });

    // a router on another (empty) registry never sees the test backends
    const lonely = spawnSwitchboard(t, ['router', '--router-port', '0'], { env: NO_ENV });
    const lonelyUrl = await lonely.listeningUrl();
    const d = await validate('--registry', registryUrl, '--router', lonelyUrl, '--discovery-timeout', '1', '--json');
    assert.equal(d.code, 1);
    const drep = JSON.parse(d.stdout) as ValidationReport;
    assert.equal(step(drep, 'discovery').status, 'FAIL');
    assert.match(step(drep, 'discovery').detail, /^after 1000 ms the router shows validate-\w+-a-server: not listed, validate-\w+-b-server: not listed; its registry is none$/);
    assert.equal(step(drep, 'round-robin').status, 'SKIP');
    // clean-up still removed the records it had registered
    assert.equal(step(drep, 'cleanup').status, 'PASS');
    const left = (await requestJson<{ services: { name: string }[] }>(`${registryUrl}/services`)).body.services.map((s) => s.name);
    assert.deepEqual(left, ['broken-server']);
  });

  it('Ctrl-C stops the test backends it started, removes its records and exits 130', async (t) => {
    const registry = spawnSwitchboard(t, ['registry', '--port', '0', '--no-probes'], { env: NO_ENV });
    const registryUrl = await registry.listeningUrl();
    // a router without the registry: discovery waits, so the interrupt lands mid-pipeline
    const router = spawnSwitchboard(t, ['router', '--router-port', '0'], { env: NO_ENV });
    const routerUrl = await router.listeningUrl();
    const v = spawnSwitchboard(t, ['validate', '--registry', registryUrl, '--router', routerUrl, '--discovery-timeout', '60'], { env: NO_ENV });
    const backends = await v.waitForLine(/^PASS {2}test backends/, 30_000);
    await v.waitForLine(/^PASS {2}registration/, 30_000);
    v.child.kill('SIGINT');
    assert.equal(await v.exited, 130);
    assert.ok(v.lines.some((l) => /^SKIP {2}discovery {2,}interrupted$/.test(l)), v.lines.join('\n'));
    assert.ok(v.lines.some((l) => /^PASS {2}clean-up {2,}no test record left in the registry; stopped 2 test backends/.test(l)), v.lines.join('\n'));
    assert.ok(v.lines.some((l) => /\(interrupted\)$/.test(l)));
    const sims = pids(backends);
    assert.equal(sims.length, 2);
    for (const pid of sims) assert.equal(alive(pid), false, `test backend pid ${pid} still running`);
    assert.deepEqual((await requestJson<{ services: unknown[] }>(`${registryUrl}/services`)).body.services, []);
  });

  it('killed outright (SIGKILL), it leaves no process running: its test backends stop by themselves', async (t) => {
    const registry = spawnSwitchboard(t, ['registry', '--port', '0', '--no-probes'], { env: NO_ENV });
    const registryUrl = await registry.listeningUrl();
    const router = spawnSwitchboard(t, ['router', '--router-port', '0'], { env: NO_ENV });
    const routerUrl = await router.listeningUrl();
    const v = spawnSwitchboard(t, ['validate', '--registry', registryUrl, '--router', routerUrl, '--discovery-timeout', '60'], { env: NO_ENV });
    const sims = pids(await v.waitForLine(/^PASS {2}test backends/, 30_000));
    await v.waitForLine(/^PASS {2}registration/, 30_000);
    assert.equal(sims.length, 2);
    for (const pid of sims) assert.equal(alive(pid), true);
    v.child.kill('SIGKILL');
    await v.exited;
    await eventually(() => sims.every((pid) => !alive(pid)), 10_000);
  });
});
