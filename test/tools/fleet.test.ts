// `switchboard fleet` as the seed's deploy_services.sh was used: start-registry, start-router,
// start-services, status, stop-all, generate-config; real background processes with PID files
// under run/ and logs under logs/. Starts are idempotent, a dead agent shows in status (and its
// orphaned engine is found by its port), stop-all leaves nothing running.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { agentFileSchema } from '../../src/agent/config.js';
import { runSwitchboard } from '../helpers/process.js';
import { freeBasePort, killAll, pidsGone, smallFleet, writeFleet } from './fleet-helpers.js';

interface Fleet {
  dir: string;
  file: string;
  base: number;
  run: (...args: string[]) => ReturnType<typeof runSwitchboard>;
  pids: () => number[];
}

async function setup(t: TestContext): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-fleet-'));
  const file = writeFleet(dir, 'fleet.yaml', smallFleet([{ name: 'chat', model: 'tiny', kind: 'chat', weight: 2 }, { name: 'emb', model: 'vec', kind: 'embeddings' }]));
  const base = await freeBasePort(2);
  const runDir = join(dir, 'run');
  const pids = (): number[] =>
    existsSync(runDir)
      ? readdirSync(runDir)
          .filter((f) => f.endsWith('.pid'))
          .map((f) => Number(readFileSync(join(runDir, f), 'utf8')))
      : [];
  // the processes log at info whatever the test runner's level: the tests read their log files
  const run = (...args: string[]): ReturnType<typeof runSwitchboard> => runSwitchboard(['fleet', ...args], { cwd: dir, timeoutMs: 90_000, env: { SWITCHBOARD_LOG_LEVEL: 'info' } });
  // one clean-up, in order: stop-all (it finds orphaned engines too), kill what is left, then the folder
  t.after(async () => {
    const left = pids();
    await run('stop-all').catch(() => undefined);
    killAll(left);
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, file, base, run, pids };
}

describe('switchboard fleet', () => {
  it('start-registry, start-router, start-services, status, stop-all: PID files in run/, logs in logs/, starts idempotent', async (t) => {
    const f = await setup(t);
    const B = String(f.base);
    let r = await f.run('status', f.file, '--base-port', B);
    assert.equal(r.code, 3, `nothing runs yet: ${r.stdout}`);

    r = await f.run('start-registry', f.file, '--base-port', B);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`the registry started: pid \\d+, http://127\\.0\\.0\\.1:${f.base + 1}, log ${f.dir}/logs/registry\\.log`));
    const registryPid = Number(readFileSync(join(f.dir, 'run', 'registry.pid'), 'utf8'));
    r = await f.run('start-registry');
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`the registry is already running \\(pid ${registryPid}`), 'the second start finds the first (fleet file and base port remembered)');

    assert.equal((await f.run('start-router')).code, 0);
    r = await f.run('start-services');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /the agent chat started/);
    assert.match(r.stdout, /the agent emb started/);
    assert.deepEqual(readdirSync(join(f.dir, 'run')).filter((x) => x.endsWith('.pid')).sort(), ['chat.pid', 'emb.pid', 'registry.pid', 'router.pid']);
    for (const log of ['registry.log', 'router.log', 'chat.log', 'emb.log']) assert.match(readFileSync(join(f.dir, 'logs', log), 'utf8'), /"msg":"listening"/, log);
    assert.ok(readdirSync(join(f.dir, 'logs', 'engines')).some((x) => x.startsWith('chat-server-')), 'engine output under logs/engines');

    // the router serves what the agents registered
    const router = `http://127.0.0.1:${f.base}`;
    const res = await fetch(`${router}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(res.status, 200);

    r = await f.run('status', '--json');
    assert.equal(r.code, 0, r.stdout);
    const status = JSON.parse(r.stdout) as { ok: boolean; processes: { name: string; state: string; healthy: boolean; pid: number }[] };
    assert.equal(status.ok, true);
    assert.deepEqual(status.processes.map((p) => [p.name, p.state, p.healthy]), [
      ['registry', 'running', true],
      ['chat', 'running', true],
      ['emb', 'running', true],
      ['router', 'running', true],
    ]);

    // an agent killed outright: status exits 1, names it and the engine it left running
    const chatPid = Number(readFileSync(join(f.dir, 'run', 'chat.pid'), 'utf8'));
    process.kill(chatPid, 'SIGKILL');
    await pidsGone([chatPid]);
    r = await f.run('status');
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^chat\s+agent\s+\d+\s+DEAD\s/m);
    // a sim engine stops by itself within a second of losing its agent; if status still saw it,
    // stop-all must stop it
    const left = /its engine still runs as pid (\d+)/.exec(r.stdout);
    const orphan = left ? [Number(left[1])] : [];

    const before = f.pids();
    r = await f.run('stop-all');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /the agent chat was not running \(stale PID file removed\)/);
    assert.match(r.stdout, /stopped 3 processes/);
    assert.deepEqual(await pidsGone([...before, ...orphan]), [], 'registry, router, agents and every engine are gone');
    assert.deepEqual(f.pids(), [], 'PID files removed');
    assert.equal((await f.run('status')).code, 3);
    assert.match((await f.run('stop-all')).stdout, /nothing was running/);
  });

  it('start-all brings the fleet up in order and generate-config writes files the agent accepts', async (t) => {
    const f = await setup(t);
    let r = await f.run('generate-config', f.file, '--base-port', String(f.base));
    assert.equal(r.code, 0, r.stderr);
    for (const name of ['registry.yaml', 'routing.yaml', 'chat.toml', 'chat.sim.yaml', 'emb.toml']) assert.match(r.stdout, new RegExp(`wrote ${f.dir}/run/config/${name.replace('.', '\\.')}`));
    const toml = agentFileSchema.parse(parseToml(readFileSync(join(f.dir, 'run', 'config', 'chat.toml'), 'utf8')));
    assert.equal(toml.port, f.base + 20);
    assert.deepEqual(toml.metadata, { weight: 2 });
    assert.equal(f.pids().length, 0, 'generate-config starts nothing');

    r = await f.run('start-all', f.file, '--base-port', String(f.base));
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const order = ['the registry started', 'the agent', 'the router started'].map((s) => r.stdout.indexOf(s));
    assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1]!)), `registry, agents, router in that order:\n${r.stdout}`);
    const models = (await (await fetch(`http://127.0.0.1:${f.base}/v1/models`)).json()) as { data: { id: string }[] };
    assert.deepEqual(models.data.map((m) => m.id).sort(), ['tiny', 'vec']);

    r = await f.run('start-all');
    assert.equal(r.code, 0);
    assert.equal((r.stdout.match(/already running/g) ?? []).length, 4, r.stdout);

    const pids = f.pids();
    assert.equal((await f.run('stop-all')).code, 0);
    assert.deepEqual(await pidsGone(pids), []);
  });

  it('up --detach starts the fleet in the background, prints the summary, and fleet status/stop-all take it from there', async (t) => {
    const f = await setup(t);
    const r = await runSwitchboard(['up', f.file, '--detach', '--base-port', String(f.base)], { cwd: f.dir, timeoutMs: 90_000, env: { SWITCHBOARD_LOG_LEVEL: 'info' } });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /Fleet "test" is up in/);
    assert.match(r.stdout, new RegExp(`Running in the background: PID files in ${f.dir}/run`));
    assert.match(r.stdout, new RegExp(`curl http://127\\.0\\.0\\.1:${f.base}/v1/chat/completions`));
    assert.equal(f.pids().length, 4);
    assert.equal((await f.run('status')).code, 0, 'status finds the fleet up --detach started');
    const pids = f.pids();
    assert.match((await f.run('stop-all')).stdout, /stopped 4 processes/);
    assert.deepEqual(await pidsGone(pids), []);
  });

  it('refuses to start on a taken port, naming it', async (t) => {
    const f = await setup(t);
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(f.base + 1, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => holder.close(() => resolve())));
    const r = await f.run('start-registry', f.file, '--base-port', String(f.base));
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`Port ${f.base + 1} on 127\\.0\\.0\\.1 is already in use, so the registry cannot start there`));
    assert.deepEqual(f.pids(), [], 'no PID file written');
  });
});
