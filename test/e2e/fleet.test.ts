// The whole path with real processes on loopback: registry, router, and agents supervising
// simulated engines. Registration and routing, an engine crash and restart, a registry restart
// with re-registration, a drain on SIGTERM with no request lost, and the agent's management API
// adding and removing an engine — each seen through the router.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { json, startAgent } from '../agent/helpers.js';
import { spawnSwitchboard } from '../helpers/process.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!(await fn().catch(() => false))) {
    if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function chat(router: string, model: string, stream = false): Promise<Response> {
  return fetch(`${router}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream, max_tokens: 12, messages: [{ role: 'user', content: 'hello there' }] }),
  });
}

async function routable(router: string, model: string): Promise<number> {
  const r = (await (await fetch(`${router}/health/ready`)).json()) as { models: Record<string, { routable: number }> };
  return r.models[model]?.routable ?? 0;
}

async function fleet(t: TestContext, registryPort = 0): Promise<{ registry: string; router: string; restartRegistry(): Promise<void> }> {
  let reg = spawnSwitchboard(t, ['registry', '--port', String(registryPort), '--health-interval', '1', '--lease-ttl', '10', '--cleanup-interval', '1'], { noAutoStop: true });
  t.after(() => reg.stop());
  const registry = await reg.listeningUrl();
  const router = spawnSwitchboard(t, ['router', '--router-port', '0', '--registry-url', registry]);
  const routerUrl = await router.listeningUrl();
  return {
    registry,
    router: routerUrl,
    async restartRegistry() {
      await reg.stop('SIGKILL');
      reg = spawnSwitchboard(t, ['registry', '--port', new URL(registry).port, '--health-interval', '1', '--lease-ttl', '10', '--cleanup-interval', '1'], { noAutoStop: true });
      t.after(() => reg.stop());
      await reg.listeningUrl();
    },
  };
}

const SIM = ['--service-type', 'sim', '--heartbeat-interval', '1', '--restart-delay', '0.2', '--drain-timeout', '10'];

describe('fleet end to end', () => {
  it('routes to agents\' engines, rides out a crash, a registry restart and a drain without losing a request', async (t) => {
    const f = await fleet(t);
    const a = await startAgent(t, [...SIM, '--name', 'gpu-a', '--models', 'm1', '--registry-url', f.registry, '--args=--decode-ms 20']);
    await startAgent(t, [...SIM, '--name', 'gpu-b', '--models', 'm1,m2', '--registry-url', f.registry, '--args=--decode-ms 20']);
    await until('both engines routable', async () => (await routable(f.router, 'm1')) === 2);

    // registration and routing: both backends serve m1, m2 only on gpu-b
    const served = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const res = await chat(f.router, 'm1');
      assert.equal(res.status, 200);
      served.add(res.headers.get('x-switchboard-backend')!);
      await res.arrayBuffer();
    }
    assert.deepEqual([...served].sort(), ['gpu-a-server', 'gpu-b-server']);
    const m2 = await chat(f.router, 'm2', true);
    assert.equal(m2.headers.get('x-switchboard-backend'), 'gpu-b-server');
    assert.ok((await m2.text()).includes('[DONE]'));

    // an engine crash: the agent restarts it; meanwhile the router serves every request
    const crash = await fetch(`http://127.0.0.1:${a.port}/admin/crash`, { method: 'POST' });
    assert.equal(crash.status, 200);
    await a.proc.waitForLine(/engine gpu-a-server exited .*restarting in/, 10_000);
    for (let i = 0; i < 10; i++) {
      const res = await chat(f.router, 'm1');
      assert.equal(res.status, 200, 'served while gpu-a restarts');
      await res.arrayBuffer();
    }
    await until('gpu-a back after its restart', async () => (await routable(f.router, 'm1')) === 2, 30_000);

    // a registry restart (memory store, no data dir: it forgets everything): the agents register
    // again by themselves; the router keeps routing meanwhile and then follows the new registry
    await f.restartRegistry();
    for (let i = 0; i < 5; i++) assert.equal((await chat(f.router, 'm1')).status, 200, 'static stability');
    await until('agents re-registered', async () => {
      const r = (await (await fetch(`${f.registry}/services`)).json()) as { services: { name: string }[] };
      const names = r.services.map((s) => s.name);
      return names.includes('gpu-a-server') && names.includes('gpu-b-server');
    }, 20_000);
    await until('router sees both again', async () => (await routable(f.router, 'm1')) === 2, 10_000);

    // a drain on SIGTERM under load: no request lost
    let stop = false;
    const statuses: number[] = [];
    const load = async (): Promise<void> => {
      while (!stop) {
        const res = await chat(f.router, 'm1', statuses.length % 2 === 0);
        const text = await res.text();
        statuses.push(res.status === 200 && (!text.startsWith('data:') || text.includes('[DONE]')) ? 200 : res.status || -1);
      }
    };
    const workers = [load(), load(), load(), load()];
    await sleep(300);
    const exit = a.proc.stop('SIGTERM', 30_000);
    assert.equal(await exit, 0, 'the agent drained and exited cleanly');
    await sleep(300);
    stop = true;
    await Promise.all(workers);
    assert.ok(statuses.length >= 8, `requests during the drain: ${statuses.length}`);
    assert.deepEqual(statuses.filter((s) => s !== 200), [], 'every request during the drain succeeded, streams complete');
    await until('gpu-a gone from the registry', async () => {
      const r = (await (await fetch(`${f.registry}/services`)).json()) as { services: { name: string }[] };
      return !r.services.some((s) => s.name.startsWith('gpu-a'));
    });
  });

  it('the agent\'s management API adds and removes an engine, and the router follows', async (t) => {
    const f = await fleet(t);
    const a = await startAgent(t, [...SIM, '--name', 'node-1', '--models', 'base', '--registry-url', f.registry]);
    await until('base routable', async () => (await routable(f.router, 'base')) === 1);
    const add = await json(`${a.url}/models`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model_name: 'extra', backend: { type: 'sim', models: ['extra-model'] }, initial_workers: 1, synchronous: true }),
    });
    assert.equal(add.status, 200, JSON.stringify(add.body));
    await until('new engine routable', async () => (await routable(f.router, 'extra-model')) === 1);
    const res = await chat(f.router, 'extra-model');
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const del = await json(`${a.url}/models/extra`, { method: 'DELETE' });
    assert.equal(del.status, 200, JSON.stringify(del.body));
    await until('engine gone from the router', async () => (await chat(f.router, 'extra-model')).status === 503);
    assert.equal((await chat(f.router, 'base')).status, 200, 'the other engine is untouched');
  });
});
