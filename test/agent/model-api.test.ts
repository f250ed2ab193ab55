import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RegistryClient } from '../../src/registry/client.js';
import { eventually } from '../helpers/process.js';
import { startRegistry } from '../registry/helpers.js';
import { alive } from './fake-engine.js';
import { chat, json, startAgent } from './helpers.js';

const TOKEN = 'agent-admin-secret';
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

interface Worker {
  id: string;
  status: string;
  pid: number | null;
  port: number;
  url: string;
}
type Describe = [{ modelName: string; runtime: string; minWorkers: number; maxWorkers: number; servedModels: string[]; backend: Record<string, unknown>; workers: Worker[] }];

describe('agent model management API (TorchServe style) with real sim engines', () => {
  it('registers, scales and unregisters models, starting and stopping engines and their records', async (t) => {
    const { url: reg } = await startRegistry(t);
    const client = new RegistryClient({ url: reg });
    const a = await startAgent(t, ['--name', 'node-m', '--models', 'base', '--args=--decode-ms 0', '--registry-url', reg, '--heartbeat-interval', '200ms', '--drain-timeout', '5', '--admin-token', TOKEN]);
    await eventually(() => client.get('node-m-server'), 20_000);

    // writes need the admin token
    const anonymous = await json(`${a.url}/models`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model_name: 'x', backend: { type: 'sim' } }) });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.code, 'SB_ERR_UNAUTHORIZED');

    // register: one engine for a new model, waited for (synchronous)
    const reg1 = await json(`${a.url}/models`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ model_name: 'extra', backend: { type: 'sim', models: ['x1'], args: ['--decode-ms', '0'], env: { SECRET_TOKEN: 's3cr3t' } }, metadata: { priority: 1 }, synchronous: true }),
    });
    assert.equal(reg1.status, 200, JSON.stringify(reg1.body));
    assert.deepEqual(reg1.body, { status: 'Model "extra" registered with 1 initial workers' });
    const rec = (await eventually(() => client.get('node-m-extra-server')));
    assert.equal(rec.status, 'running');
    assert.deepEqual(rec.metadata.models, ['x1']);
    assert.equal(rec.metadata.model_group, 'extra');
    assert.equal(rec.metadata.priority, 1);
    assert.equal(rec.metadata.parent_service, 'node-m');
    assert.equal((await chat(rec.url, 'x1', 3)).status, 200, 'the new engine serves its model');

    // list: the original's model list plus TorchServe's models
    const list = await json<{ data: { id: string }[]; models: { modelName: string; workers: number }[] }>(`${a.url}/models`);
    assert.deepEqual(list.body.data.map((m) => m.id).sort(), ['base', 'x1']);
    assert.deepEqual(list.body.models.map((m) => [m.modelName, m.workers]), [['node-m', 1], ['extra', 1]]);

    // describe
    const d1 = await json<Describe>(`${a.url}/models/extra`);
    assert.equal(d1.status, 200);
    assert.equal(d1.body[0].runtime, 'sim');
    assert.deepEqual(d1.body[0].servedModels, ['x1']);
    assert.equal(d1.body[0].backend.env, undefined, 'env (secrets) is not shown');
    assert.deepEqual(d1.body[0].workers.map((w) => [w.id, w.status]), [['node-m-extra-server', 'READY']]);
    const pid0 = d1.body[0].workers[0]!.pid!;

    // scale up to 2 replicas
    const up = await json(`${a.url}/models/extra?min_worker=2&max_worker=4&synchronous=true`, { method: 'PUT', headers: auth });
    assert.equal(up.status, 200, JSON.stringify(up.body));
    assert.deepEqual(up.body, { status: 'Workers scaled to 2 for model: extra' });
    const d2 = await json<Describe>(`${a.url}/models/extra`);
    assert.deepEqual([d2.body[0].minWorkers, d2.body[0].maxWorkers], [2, 4]);
    const [w0, w1] = d2.body[0].workers;
    assert.equal(w1!.id, 'node-m-extra-server-1');
    assert.notEqual(w1!.port, w0!.port);
    assert.ok(alive(w1!.pid!));
    const rec1 = (await eventually(() => client.get('node-m-extra-server-1')));
    assert.equal(rec1.port, w1!.port);
    assert.deepEqual(rec1.metadata.models, ['x1']);

    // scale down to 1: the extra replica is drained, deregistered and stopped
    const down = await json(`${a.url}/models/extra?min_worker=1&synchronous=true`, { method: 'PUT', headers: auth });
    assert.equal(down.status, 200);
    assert.equal(await client.get('node-m-extra-server-1'), undefined);
    await eventually(() => !alive(w1!.pid!));
    assert.ok(alive(pid0), 'replica 0 keeps running');

    // asynchronous scale answers 202 at once
    const later = await json(`${a.url}/models/extra?min_worker=1`, { method: 'PUT', headers: auth });
    assert.deepEqual([later.status, later.body.status], [202, 'Processing worker updates...']);

    // unregister
    const del = await json(`${a.url}/models/extra`, { method: 'DELETE', headers: auth });
    assert.deepEqual([del.status, del.body.status], [200, 'Model "extra" unregistered']);
    assert.equal(await client.get('node-m-extra-server'), undefined);
    await eventually(() => !alive(pid0));
    const gone = await json(`${a.url}/models/extra`);
    assert.deepEqual([gone.status, gone.body.code], [404, 'SB_ERR_AGENT_MODEL_NOT_FOUND']);
    assert.ok(await client.get('node-m-server'), 'the config file\'s engine is untouched');
  });

  it('refuses bad requests with the field named, and a duplicate name', async (t) => {
    const a = await startAgent(t, ['--name', 'node-v', '--models', 'base', '--args=--decode-ms 0', '--max-restarts', '1', '--restart-delay', '50ms']);
    const post = (body: unknown) => json(`${a.url}/models`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    // on loopback without a token, management is open
    const noName = await post({ backend: { type: 'sim' } });
    assert.deepEqual([noName.status, noName.body.code, noName.body.error], [400, 'SB_ERR_MISSING_FIELD', 'Missing required field: model_name']);
    const badType = await post({ model_name: 'y', backend: { type: 'triton' } });
    assert.equal(badType.status, 400);
    assert.match(String(badType.body.error), /'backend\.type'/);
    const badKey = await post({ model_name: 'y', backend: { type: 'vllm', model: 'm', gpus: 2 } });
    assert.match(String(badKey.body.error), /'backend\.gpus'/);
    const fixedPort = await post({ model_name: 'y', backend: { type: 'command', command: 'python3 serve.py --port 9000' } });
    assert.deepEqual([fixedPort.status, fixedPort.body.code], [400, 'SB_ERR_AGENT_SCALE']);
    const dup = await post({ model_name: 'node-v', backend: { type: 'sim' } });
    assert.deepEqual([dup.status, dup.body.code], [409, 'SB_ERR_AGENT_MODEL_EXISTS']);
    const scale = await json(`${a.url}/models/node-v?min_worker=3&max_worker=2`, { method: 'PUT' });
    assert.deepEqual([scale.status, scale.body.code], [400, 'SB_ERR_AGENT_SCALE']);
    // a model whose engine cannot start is rolled back and explained
    const broken = await post({ model_name: 'broken', backend: { type: 'sim', args: ['--kind', 'speech'] }, synchronous: true });
    assert.deepEqual([broken.status, broken.body.code], [502, 'SB_ERR_AGENT_ENGINE_FAILED']);
    assert.match(String(broken.body.error), /node-v-broken-server exited \(exit code 2\)/);
    assert.equal((await json(`${a.url}/models/broken`)).status, 404, 'rolled back');
  });

  it('keeps models registered through the API across a restart (the model snapshot), and starts whole from a bad snapshot', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-agent-snap-'));
    const file = join(dir, 'models.json');
    const base = ['--models', 'base', '--args=--decode-ms 0', '--models-file', file];
    const first = await startAgent(t, ['--name', 'node-s', ...base]);
    const post = await json(`${first.url}/models`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model_name: 'extra', backend: { type: 'sim', models: ['x1'], args: ['--decode-ms', '0'], env: { SECRET_TOKEN: 's3cr3t' } }, metadata: { priority: 2 }, synchronous: true }),
    });
    assert.equal(post.status, 200, JSON.stringify(post.body));
    assert.equal((await json(`${first.url}/models/extra?min_worker=2&max_worker=3&synchronous=true`, { method: 'PUT' })).status, 200);
    type Saved = { version: number; models: { name: string; minWorkers: number; maxWorkers: number; metadata: Record<string, unknown>; backend: { type: string; env?: Record<string, string> } }[] };
    await eventually(() => (JSON.parse(readFileSync(file, 'utf8')) as Saved).models[0]?.minWorkers === 2);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Saved;
    assert.deepEqual(saved.models.map((m) => [m.name, m.minWorkers, m.maxWorkers, m.metadata.priority, m.backend.env?.SECRET_TOKEN]), [['extra', 2, 3, 2, 's3cr3t']], 'the configured engine is not in it');
    assert.equal(statSync(file).mode & 0o777, 0o600, 'owner-only: env may hold tokens');
    await first.proc.stop('SIGTERM', 30_000);

    // a new agent process on the same file: the model is back, with its workers, and serves
    const second = await startAgent(t, ['--name', 'node-s', ...base]);
    await second.proc.waitForLine(/model registered again from the model snapshot/);
    const d = await eventually(async () => {
      const r = await json<Describe>(`${second.url}/models/extra`);
      return r.status === 200 && r.body[0].workers.length === 2 && r.body[0].workers.every((w) => w.status === 'READY') ? r.body[0] : undefined;
    }, 20_000);
    assert.deepEqual([d.minWorkers, d.maxWorkers, d.servedModels], [2, 3, ['x1']]);
    assert.equal((await chat(d.workers[0]!.url, 'x1', 2)).status, 200);
    // unregistering empties the snapshot
    assert.equal((await json(`${second.url}/models/extra`, { method: 'DELETE' })).status, 200);
    await eventually(() => (JSON.parse(readFileSync(file, 'utf8')) as Saved).models.length === 0);
    await second.proc.stop('SIGTERM', 30_000);

    // unreadable: moved aside and logged, the agent starts with its configured engine
    writeFileSync(file, '{"version": 1, "models": [');
    const third = await startAgent(t, ['--name', 'node-s', ...base]);
    assert.match(await third.proc.waitForLine(/model snapshot unreadable/), /starting with the configured engine only/);
    assert.ok(readdirSync(dir).some((f) => f.startsWith('models.json.bad-')), readdirSync(dir).join(','));
    assert.equal((await json<{ models: unknown[] }>(`${third.url}/models`)).body.models.length, 1);
    await third.proc.stop('SIGTERM', 30_000);

    // one bad entry is skipped, the good one comes back
    writeFileSync(file, JSON.stringify({ version: 1, models: [{ name: 'bad', backend: { type: 'triton' }, minWorkers: 1, maxWorkers: 1 }, { name: 'good', backend: { type: 'sim', models: ['g1'] }, metadata: {}, minWorkers: 1, maxWorkers: 1 }] }));
    const fourth = await startAgent(t, ['--name', 'node-s', ...base]);
    assert.match(await fourth.proc.waitForLine(/model snapshot: entry skipped/), /backend\.type/);
    await fourth.proc.waitForLine(/model registered again from the model snapshot/);
    assert.equal((await json(`${fourth.url}/models/good`)).status, 200);
    assert.equal((await json(`${fourth.url}/models/bad`)).status, 404);
  });
});
