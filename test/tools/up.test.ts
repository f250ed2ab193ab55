// `switchboard up` as a user runs it: real registry, router, agents and simulated engines on
// loopback (moved to a free port range with --base-port). The demo fleet serves chat (plain and
// streamed), embeddings and its model list through the router; an agent killed outright is
// reported, routed around and started again; so are a router and a registry; Ctrl-C stops
// every process, engines included; `up` killed
// outright still leaves nothing behind; a bad fleet file and a taken port are refused by name.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { runSwitchboard, spawnSwitchboard, type SpawnedProcess } from '../helpers/process.js';
import { freeBasePort, killAll, pidsGone, scratchDir, smallFleet, writeFleet } from './fleet-helpers.js';

interface Row {
  name: string;
  role: string;
  pid: number;
  url: string;
  enginePid: number | undefined;
}

/** The process table of the summary: `  chat-a  agent  1234  http://...  qwen3-8b (...)  engine :8100 pid 1240`. */
function summaryRows(lines: readonly string[]): Row[] {
  const rows: Row[] = [];
  for (const l of lines) {
    const m = /^ {2}(\S+)\s+(registry|agent|router)\s+(\d+)\s+(http:\/\/\S+)\s*(.*)$/.exec(l);
    if (!m) continue;
    const engine = / engine :\d+ pid (\d+)/.exec(m[5]!);
    rows.push({ name: m[1]!, role: m[2]!, pid: Number(m[3]), url: m[4]!, enginePid: engine ? Number(engine[1]) : undefined });
  }
  return rows;
}

const allPids = (rows: readonly Row[]): number[] => rows.flatMap((r) => (r.enginePid === undefined ? [r.pid] : [r.pid, r.enginePid]));

/** Starts `up`; registers a clean-up that kills it and anything it started. */
async function startUp(t: TestContext, args: string[]): Promise<{ proc: SpawnedProcess; rows: Row[] }> {
  const proc = spawnSwitchboard(t, ['up', '--no-color', ...args], { noAutoStop: true });
  let rows: Row[] = [];
  t.after(async () => {
    await proc.stop('SIGKILL', 0);
    killAll(allPids(rows));
  });
  await proc.waitForLine(/Ctrl-C stops the fleet/, 60_000);
  rows = summaryRows(proc.lines);
  return { proc, rows };
}

function chat(router: string, model: string, stream: boolean): Promise<Response> {
  return fetch(`${router}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream, max_tokens: 8, messages: [{ role: 'user', content: 'Hello!' }] }),
  });
}

describe('switchboard up', () => {
  it('runs the demo fleet: models, chat and streaming through the router, a dead agent routed around, Ctrl-C stops everything', async (t) => {
    const base = await freeBasePort(5);
    const { proc, rows } = await startUp(t, ['--base-port', String(base)]);
    assert.deepEqual(rows.map((r) => r.role), ['registry', 'agent', 'agent', 'agent', 'agent', 'agent', 'router']);
    assert.ok(rows.filter((r) => r.role === 'agent').every((r) => r.enginePid !== undefined), 'every agent row shows its engine PID');
    const router = rows.find((r) => r.role === 'router')!.url;
    assert.equal(router, `http://127.0.0.1:${base}`);
    assert.equal(rows.find((r) => r.role === 'registry')!.url, `http://127.0.0.1:${base + 1}`);
    assert.ok(proc.lines.some((l) => l.includes(`curl ${router}/v1/chat/completions`)), 'the summary has a curl line for this fleet');

    const models = (await (await fetch(`${router}/v1/models`)).json()) as { data: { id: string }[] };
    assert.deepEqual(models.data.map((m) => m.id).sort(), ['bge-m3', 'bge-reranker-v2-m3', 'llama-3.2-1b', 'qwen3-8b']);

    const plain = await chat(router, 'qwen3-8b', false);
    assert.equal(plain.status, 200);
    const body = (await plain.json()) as { model: string; choices: { message: { content: string } }[] };
    assert.equal(body.model, 'qwen3-8b');
    assert.ok(body.choices[0]!.message.content.length > 0);

    const streamed = await chat(router, 'llama-3.2-1b', true);
    assert.equal(streamed.status, 200);
    assert.match(streamed.headers.get('content-type') ?? '', /text\/event-stream/);
    const events = await streamed.text();
    assert.match(events, /"object":"chat\.completion\.chunk"/);
    assert.ok(events.trimEnd().endsWith('data: [DONE]'), 'the stream ends with [DONE]');

    // the demo's sim block reaches the engine: bge-m3 has 1024 dimensions (the sim's default is 384)
    const emb = await fetch(`${router}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'bge-m3', input: 'hi', encoding_format: 'float' }) });
    assert.equal(emb.status, 200);
    assert.equal(((await emb.json()) as { data: { embedding: number[] }[] }).data[0]!.embedding.length, 1024);

    // an agent killed outright: reported, its engine gone, its records removed, qwen3-8b still served
    const chatB = rows.find((r) => r.name === 'chat-b')!;
    process.kill(chatB.pid, 'SIGKILL');
    await proc.waitForLine(/the agent chat-b \(pid \d+\) stopped unexpectedly: killed by SIGKILL/, 10_000);
    await proc.waitForLine(/removed chat-b and chat-b-server from the registry; the router routes qwen3-8b to chat-a/, 10_000);
    assert.deepEqual(await pidsGone([chatB.enginePid!]), [], 'the dead agent\'s engine is stopped');
    for (let i = 0; i < 6; i++) assert.equal((await chat(router, 'qwen3-8b', false)).status, 200, `request ${i} after chat-b died`);
    // then started again, with a new engine, registered again
    await proc.waitForLine(/starting the agent chat-b again in 1 s/, 5_000);
    const back = /the agent chat-b is back \(pid (\d+), engine pid (\d+)\)/.exec(await proc.waitForLine(/the agent chat-b is back/, 60_000));
    assert.ok(back, 'the line names the new agent and engine PIDs');
    const again = [Number(back[1]), Number(back[2])];
    t.after(() => killAll(again));
    assert.notEqual(again[0], chatB.pid);

    proc.child.kill('SIGINT');
    assert.equal(await proc.exited, 0);
    assert.ok(proc.lines.some((l) => /stopping: the router, then the agents/.test(l)));
    assert.ok(proc.lines.some((l) => /stopped 7 processes$/.test(l)), 'all seven were running again; each stopped');
    assert.deepEqual(await pidsGone([...allPids(rows), ...again], 5_000), [], 'no registry, router, agent or engine process is left, the restarted agent\'s included');
  });

  it('--logs writes each process\'s output to files; killed outright, up still leaves nothing running', async (t) => {
    const dir = scratchDir(t, 'sb-up-');
    const file = writeFleet(dir, 'fleet.yaml', smallFleet([{ name: 'solo', model: 'tiny', kind: 'chat' }]));
    const base = await freeBasePort(1);
    const logs = join(dir, 'logs');
    const { proc, rows } = await startUp(t, [file, '--base-port', String(base), '--logs', '--log-dir', logs]);
    assert.equal(rows.length, 3);
    assert.equal((await chat(`http://127.0.0.1:${base}`, 'tiny', false)).status, 200);
    for (const name of ['registry', 'solo', 'router']) assert.match(readFileSync(join(logs, `${name}.log`), 'utf8'), /"msg":"listening"/, `${name}.log`);
    assert.ok(readdirSync(join(logs, 'engines')).some((f) => f.startsWith('solo-server-')), 'engine output under logs/engines');
    assert.ok(!proc.lines.some((l) => /^(registry|router|solo) +\|/.test(l)), 'no process output on the terminal with --logs');
    // up killed outright: its children notice their parent is gone and stop (the agent drains its engine)
    proc.child.kill('SIGKILL');
    await proc.exited;
    assert.deepEqual(await pidsGone(allPids(rows), 15_000), [], 'registry, router, agent and engine exit within seconds of up');
  });

  it('starts a router or registry that dies again, and the fleet serves again', async (t) => {
    const dir = scratchDir(t, 'sb-up-');
    const file = writeFleet(dir, 'fleet.yaml', smallFleet([{ name: 'solo', model: 'tiny', kind: 'chat' }]));
    const base = await freeBasePort(1);
    const { proc, rows } = await startUp(t, [file, '--base-port', String(base)]);
    const router = `http://127.0.0.1:${base}`;
    const restarted: number[] = [];
    t.after(() => killAll(restarted));
    for (const role of ['router', 'registry'] as const) {
      const row = rows.find((r) => r.role === role)!;
      process.kill(row.pid, 'SIGKILL');
      await proc.waitForLine(new RegExp(`the ${role} \\(pid ${row.pid}\\) stopped unexpectedly: killed by SIGKILL`), 10_000);
      await proc.waitForLine(new RegExp(`starting the ${role} again in 1 s`), 5_000);
      const back = await proc.waitForLine(new RegExp(`the ${role} is back \\(pid (\\d+)\\)`), 30_000);
      const pid = Number(/is back \(pid (\d+)\)/.exec(back)![1]);
      assert.notEqual(pid, row.pid);
      restarted.push(pid);
    }
    // the new router found the agent through the new registry
    const res = await chat(router, 'tiny', false);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    proc.child.kill('SIGINT');
    assert.equal(await proc.exited, 0);
    assert.deepEqual(await pidsGone([...allPids(rows), ...restarted], 5_000), [], 'the restarted router and registry stop with the rest');
  });

  it('refuses a fleet file with an unknown key, naming it, before starting anything', async (t) => {
    const dir = scratchDir(t, 'sb-up-');
    const file = writeFleet(dir, 'fleet.yaml', { engines: [{ name: 'a', modle: 'x' }] });
    const r = await runSwitchboard(['up', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown key 'engines\.0\.modle' \(did you mean 'model'\?\)/);
    assert.match(r.stderr, /\[SB_ERR_CONFIG_INVALID\]/);
    assert.doesNotMatch(r.stdout, /starting/);
  });

  it('names a taken port, the process that needed it and the one holding it', async (t) => {
    const dir = scratchDir(t, 'sb-up-');
    const file = writeFleet(dir, 'fleet.yaml', smallFleet([{ name: 'solo', model: 'tiny' }]));
    const base = await freeBasePort(1);
    for (const [port, role] of [
      [base + 1, 'the registry'],
      [base + 21, 'the agent solo'],
    ] as const) {
      const holder = createServer();
      await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
      t.after(() => new Promise<void>((resolve) => holder.close(() => resolve())));
      const r = await runSwitchboard(['up', file, '--base-port', String(base)]);
      await new Promise<void>((resolve) => holder.close(() => resolve()));
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`Port ${port} on 127\\.0\\.0\\.1 is already in use, so ${role} cannot start there`));
      assert.match(r.stderr, new RegExp(`held by pid ${process.pid}\\b`));
      assert.match(r.stderr, /--base-port/);
      assert.doesNotMatch(r.stdout, /starting the registry/, 'nothing was started');
    }
  });
});
