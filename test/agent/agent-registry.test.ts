import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryClient } from '../../src/registry/client.js';
import { registryConfigSchema } from '../../src/registry/config.js';
import type { ServiceRecord } from '../../src/registry/record.js';
import { buildRegistry } from '../../src/registry/server.js';
import { eventually } from '../helpers/process.js';
import { startRegistry } from '../registry/helpers.js';
import { alive } from './fake-engine.js';
import { chat, json, startAgent } from './helpers.js';

const FAST = ['--heartbeat-interval', '200ms', '--restart-delay', '100ms'];

describe('switchboard agent with a real registry and a real sim engine', () => {
  it('registers itself (port + 1) and the engine (<name>-server) as the original babysitter does', async (t) => {
    const { url: reg } = await startRegistry(t);
    const client = new RegistryClient({ url: reg });
    const a = await startAgent(t, ['--name', 'node-a', '--models', 'm1,m2', '--args=--decode-ms 0', '--registry-url', reg, '--metadata', '{"cache_type":"paged","static":true}', ...FAST]);
    assert.equal(a.url, `http://127.0.0.1:${a.port + 1}`);
    const engine = await eventually(() => client.get('node-a-server'), 20_000);
    const self = (await client.get('node-a'))!;
    assert.deepEqual(
      { name: self.name, host: self.host, port: self.port, url: self.url, status: self.status, type: self.metadata.type, babysitter: self.metadata.babysitter },
      { name: 'node-a', host: '127.0.0.1', port: a.port + 1, url: `http://127.0.0.1:${a.port + 1}`, status: 'running', type: 'sim', babysitter: 'enhanced' },
    );
    assert.equal(engine.port, a.port);
    assert.equal(engine.url, `http://127.0.0.1:${a.port}`);
    assert.equal(engine.status, 'running');
    const m = engine.metadata;
    assert.equal(m.type, 'openai-api');
    assert.equal(m.parent_service, 'node-a');
    assert.equal(m.babysitter, 'enhanced');
    assert.deepEqual(m.models, ['m1', 'm2']);
    assert.deepEqual((m.models_list as { id: string }[]).map((x) => x.id), ['m1', 'm2']);
    assert.equal(m.cache_type, 'paged', '[metadata] merged in');
    assert.equal(m.static, true);
    assert.equal(typeof m.started_at, 'string');

    // the registry's active probe goes through the agent (metadata.health_url)
    assert.equal(m.health_url, `${a.url}/health?service=node-a-server`);
    const probed = await client.serviceHealth('node-a-server');
    assert.equal(probed.health_status, 'healthy');

    // the original babysitter's endpoints on port + 1
    const health = await json(`${a.url}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(Object.keys(health.body).slice(0, 6), ['status', 'service', 'babysitter', 'infinilm_server_running', 'infinilm_server_port', 'timestamp']);
    assert.equal(health.body.service, 'node-a');
    assert.equal(health.body.infinilm_server_running, true);
    assert.equal(health.body.infinilm_server_port, a.port);
    const models = await json<{ object: string; data: { id: string }[] }>(`${a.url}/models`);
    assert.equal(models.status, 200);
    assert.deepEqual(models.body.data.map((x) => x.id), ['m1', 'm2']);
    const info = await json(`${a.url}/info`);
    assert.equal(info.body.name, 'node-a');
    assert.equal(info.body.port, a.port + 1);
    assert.equal(info.body.infinilm_server_port, a.port);
    assert.equal(info.body.restart_count, 0);
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    assert.match(metrics, /agent_engine_up\{engine="node-a-server"\} 1/);
  });

  it('heartbeats carry the engine\'s load, read from its /metrics', async (t) => {
    const { url: reg } = await startRegistry(t);
    const client = new RegistryClient({ url: reg });
    const a = await startAgent(t, ['--name', 'node-l', '--models', 'm', '--args=--decode-ms 40 --early-stop-rate 0', '--registry-url', reg, ...FAST]);
    await eventually(() => client.get('node-l-server'), 20_000);
    const idle = await eventually(async () => (await client.get('node-l-server'))?.load, 10_000);
    assert.deepEqual({ running: idle.running, waiting: idle.waiting, kv_cache_usage: idle.kv_cache_usage }, { running: 0, waiting: 0, kv_cache_usage: 0 });
    const stop = new AbortController();
    const busy = [chat(`http://127.0.0.1:${a.port}`, 'm', 400, stop.signal), chat(`http://127.0.0.1:${a.port}`, 'm', 400, stop.signal)];
    const loaded = await eventually(async () => {
      const l = (await client.get('node-l-server'))?.load;
      return l && l.running === 2 ? l : undefined;
    }, 15_000);
    assert.ok((loaded.kv_cache_usage ?? 0) > 0, 'KV use is published too');
    stop.abort();
    await Promise.allSettled(busy);
  });

  it('registers both records again by itself after the registry restarts empty', async (t) => {
    const config = registryConfigSchema.parse({ port: 0, probes: false });
    const first = await buildRegistry(config);
    const reg = await first.listen();
    const port = Number(new URL(reg).port);
    const client = new RegistryClient({ url: reg });
    await startAgent(t, ['--name', 'node-r', '--models', 'm', '--args=--decode-ms 0', '--registry-url', reg, ...FAST]);
    await eventually(() => client.get('node-r-server'), 20_000);
    await first.close();
    // a new registry on the same port, memory store, no snapshot: it knows nothing
    const second = await buildRegistry(registryConfigSchema.parse({ port, probes: false }));
    t.after(() => second.close());
    await second.listen();
    assert.equal((await client.list()).services.length, 0);
    const names = await eventually(async () => {
      const { services } = await client.list();
      const n = services.map((s: ServiceRecord) => s.name).sort();
      return n.length === 2 ? n : undefined;
    }, 10_000);
    assert.deepEqual(names, ['node-r', 'node-r-server']);
    const engine = (await client.get('node-r-server'))!;
    assert.equal(engine.status, 'running');
    assert.deepEqual(engine.metadata.models, ['m']);
  });

  it('restarts a crashed engine and shows it in the registry: starting, then running again', async (t) => {
    const { url: reg, registry } = await startRegistry(t);
    const client = new RegistryClient({ url: reg });
    const seen: string[] = [];
    const unsubscribe = registry.store.subscribe((e) => {
      if (e.type === 'upsert' && e.service.name === 'node-c-server') seen.push(e.service.status);
    });
    t.after(() => unsubscribe());
    const a = await startAgent(t, ['--name', 'node-c', '--models', 'm', '--args=--decode-ms 0 --fault-crash-after 1', '--registry-url', reg, ...FAST]);
    await eventually(async () => (await client.get('node-c-server'))?.status === 'running', 20_000);
    const pid1 = (await json<[{ workers: { pid: number }[] }]>(`${a.url}/models/node-c`)).body[0].workers[0]!.pid;
    const res = await chat(`http://127.0.0.1:${a.port}`, 'm', 4);
    assert.equal(res.status, 200);
    await res.text();
    // the sim crashes after answering; the agent restarts it on the same port
    await eventually(() => seen.includes('starting') && seen.at(-1) === 'running', 20_000);
    const worker = (await json<[{ workers: { pid: number; restarts: number; status: string }[] }]>(`${a.url}/models/node-c`)).body[0].workers[0]!;
    assert.equal(worker.status, 'READY');
    assert.equal(worker.restarts, 1);
    assert.notEqual(worker.pid, pid1);
    assert.equal(alive(pid1), false);
    assert.equal((await chat(`http://127.0.0.1:${a.port}`, 'm', 4)).status, 200, 'the new engine serves');
  });

  it('reports a crash-looping engine as failed in the registry instead of spinning', async (t) => {
    const { url: reg } = await startRegistry(t);
    const client = new RegistryClient({ url: reg });
    // the sim refuses this flag at start: every run exits at once
    const a = await startAgent(t, ['--name', 'node-f', '--models', 'm', '--args=--kind speech', '--registry-url', reg, '--max-restarts', '2', ...FAST]);
    const rec = await eventually(async () => {
      const r = await client.get('node-f-server');
      return r?.status === 'failed' ? r : undefined;
    }, 20_000);
    assert.equal(rec.is_healthy, false);
    assert.equal(rec.metadata.type, 'openai-api');
    const d = await json<[{ workers: { status: string; restarts: number; lastExit: { code: number; output: string[] } }[] }]>(`${a.url}/models/node-f`);
    const w = d.body[0].workers[0]!;
    assert.equal(w.status, 'FAILED');
    assert.equal(w.restarts, 2);
    assert.equal(w.lastExit.code, 2);
    assert.ok(w.lastExit.output.some((l) => /kind/.test(l)), JSON.stringify(w.lastExit.output));
    assert.equal((await json(`${a.url}/models`)).status, 503, 'no engine ready: the original\'s 503');
  });

  it('drains on SIGTERM: draining in the registry, the in-flight request completes, then both records go and the engine stops', async (t) => {
    const { url: reg, registry } = await startRegistry(t);
    const client = new RegistryClient({ url: reg });
    const statuses: string[] = [];
    const unsubscribe = registry.store.subscribe((e) => {
      if (e.type === 'upsert' && e.service.name === 'node-d-server') statuses.push(e.service.status);
      if (e.type === 'delete' && e.name === 'node-d-server') statuses.push('(deleted)');
    });
    t.after(() => unsubscribe());
    const a = await startAgent(t, ['--name', 'node-d', '--models', 'm', '--args=--decode-ms 25 --early-stop-rate 0', '--registry-url', reg, ...FAST]);
    await eventually(async () => (await client.get('node-d-server'))?.status === 'running', 20_000);
    const pid = (await json<[{ workers: { pid: number }[] }]>(`${a.url}/models/node-d`)).body[0].workers[0]!.pid;
    // about two seconds of decoding, under way when SIGTERM arrives
    const inflight = chat(`http://127.0.0.1:${a.port}`, 'm', 80);
    await eventually(async () => (await client.get('node-d-server'))?.load?.running === 1, 10_000);
    a.proc.child.kill('SIGTERM');
    const res = await inflight;
    assert.equal(res.status, 200, 'the in-flight request is not lost');
    const body = (await res.json()) as { usage: { completion_tokens: number }; choices: { finish_reason: string }[] };
    assert.equal(body.usage.completion_tokens, 80);
    assert.equal(body.choices[0]!.finish_reason, 'length');
    assert.equal(await a.proc.exited, 0);
    assert.deepEqual(statuses.slice(-2), ['draining', '(deleted)']);
    assert.equal(await client.get('node-d'), undefined);
    assert.equal(await client.get('node-d-server'), undefined);
    assert.equal(alive(pid), false, 'the engine was stopped');
    assert.ok(a.proc.lines.some((l) => l.includes('drained: records removed, engines stopped')));
  });
});
