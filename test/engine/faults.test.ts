import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, seededRandom } from '../../src/core/index.js';
import { SIM_CRASH_EXIT_CODE } from '../../src/cli/commands/sim.js';
import { eventually, spawnSwitchboard } from '../helpers/process.js';
import { postJson, rawStream, sseData, startSim } from './sim-helpers.js';

const MESSAGES = [{ role: 'user', content: 'Say something.' }];
const chatBody = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ model: 'm1', messages: MESSAGES, max_tokens: 10, ...extra });
const contentChunks = (data: string[]): number => data.filter((d) => d !== '[DONE]' && (JSON.parse(d) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content).length;

describe('sim fault injection', () => {
  it('fails the share of requests that errorRate says, decided by the seeded Random', async (t) => {
    const { url } = await startSim(t, { faults: { errorRate: 0.5 } }, { random: seededRandom(42) });
    const replay = seededRandom(42);
    const expected: number[] = [];
    const got: number[] = [];
    for (let i = 0; i < 20; i++) {
      expected.push(replay.next() < 0.5 ? 500 : 200);
      const res = await postJson(`${url}/v1/chat/completions`, chatBody({ max_tokens: 2 }));
      got.push(res.status);
      const body = (await res.json()) as { error?: { type: string; code: string; message: string } };
      if (res.status === 500) assert.deepEqual({ type: body.error!.type, code: body.error!.code }, { type: 'server_error', code: 'SB_ERR_ENGINE_FAULT' });
    }
    assert.deepEqual(got, expected);
    assert.ok(got.includes(500) && got.includes(200));
  });

  it('drops the connection mid-stream after N tokens: no [DONE], the body never terminates', async (t) => {
    const { url, sim } = await startSim(t, { faults: { dropAfterTokens: 3 } });
    const s = await rawStream(`${url}/v1/chat/completions`, chatBody({ stream: true }));
    const { complete } = await s.ended;
    assert.equal(complete, false, 'the chunked body was cut');
    assert.equal(contentChunks(s.data), 3);
    assert.ok(!s.data.includes('[DONE]'));
    assert.equal(sim.scheduler.stats().running, 0, 'the dropped request left the engine');
    // a request that finishes within N tokens is not affected
    const short = await sseData(await postJson(`${url}/v1/chat/completions`, chatBody({ stream: true, max_tokens: 2 })));
    assert.equal(short.at(-1), '[DONE]');
    // non-streamed: the connection closes without an answer
    await assert.rejects(postJson(`${url}/v1/chat/completions`, chatBody()));
  });

  it('stalls a stream after N tokens with the connection open and the slot held, until the client leaves', async (t) => {
    const { url, sim } = await startSim(t, { faults: { stallAfterTokens: 2 } });
    const s = await rawStream(`${url}/v1/chat/completions`, chatBody({ stream: true }));
    await s.waitFor(3); // role + 2 tokens
    const slots = (await (await fetch(`${url}/slots`)).json()) as { is_processing: boolean }[];
    assert.equal(slots.filter((x) => x.is_processing).length, 1);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /^vllm:num_requests_running\{model_name="m1"\} 1$/m);
    assert.equal(s.res.destroyed, false, 'the connection stays open');
    assert.equal(contentChunks(s.data), 2);
    s.destroy();
    await eventually(() => sim.scheduler.stats().running === 0);
  });

  it('frees the slot at once when a client disconnects mid-request', async (t) => {
    // a slow engine: one sequence at a time, 50 ms per token
    const { url, sim } = await startSim(t, { decodeMs: 50, maxNumSeqs: 1 });
    const s = await rawStream(`${url}/v1/chat/completions`, chatBody({ stream: true, max_tokens: 1000 }));
    await s.waitFor(2);
    assert.equal(sim.scheduler.stats().running, 1);
    s.destroy();
    await eventually(() => sim.scheduler.stats().running === 0 && sim.scheduler.stats().kvUsedTokens === 0);
    const res = await postJson(`${url}/v1/chat/completions`, chatBody({ max_tokens: 2 }));
    assert.equal(res.status, 200, 'the next request gets the slot');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /^vllm:request_success_total\{model_name="m1",finished_reason="abort"\} 1$/m);
  });

  it('delays the first token of a spiked request by latencySpikeMs (on the injected clock)', async (t) => {
    const clock = new ManualClock();
    const { url } = await startSim(t, { faults: { latencySpikeRate: 1, latencySpikeMs: 5000 } }, { clock });
    let answered = false;
    const pending = postJson(`${url}/v1/chat/completions`, chatBody({ max_tokens: 2 })).then((r) => ((answered = true), r));
    await eventually(async () => /fault="latency_spike"\} 1$/m.test(await (await fetch(`${url}/metrics`)).text()));
    await clock.advance(4999);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(answered, false, 'still waiting 1 ms before the spike ends');
    await clock.advance(1);
    const res = await pending;
    assert.equal(res.status, 200);
  });

  it('cuts a request that is waiting out a latency spike when the sim closes', async (t) => {
    const clock = new ManualClock();
    const { url, sim } = await startSim(t, { faults: { latencySpikeRate: 1, latencySpikeMs: 5000 } }, { clock });
    const pending = postJson(`${url}/v1/chat/completions`, chatBody({ max_tokens: 2 })).then((r) => r.status, () => 'cut');
    await eventually(async () => /fault="latency_spike"\} 1$/m.test(await (await fetch(`${url}/metrics`)).text()));
    await sim.close();
    await clock.advance(5000); // nothing may fire into the closed engine
    assert.equal(await pending, 'cut');
  });

  it('reads and changes faults through /admin/faults, validating each field', async (t) => {
    const { url } = await startSim(t);
    const get = async (): Promise<Record<string, unknown>> => (await (await fetch(`${url}/admin/faults`)).json()) as Record<string, unknown>;
    const initial = await get();
    assert.equal(initial.errorRate, 0);
    const roundTrip = await fetch(`${url}/admin/faults`, { method: 'PUT', body: JSON.stringify(initial) });
    assert.equal(roundTrip.status, 200, 'what GET returns can be PUT back');
    const put = await fetch(`${url}/admin/faults`, { method: 'PUT', body: JSON.stringify({ errorRate: 1 }) });
    assert.equal(put.status, 200);
    assert.equal((await postJson(`${url}/v1/chat/completions`, chatBody())).status, 500);
    const patch = await fetch(`${url}/admin/faults`, { method: 'PATCH', body: JSON.stringify({ dropAfterTokens: 4 }) });
    assert.deepEqual([(await patch.json() as Record<string, unknown>).errorRate, (await get()).dropAfterTokens], [1, 4]);
    await fetch(`${url}/admin/faults`, { method: 'PUT', body: '{}' });
    assert.deepEqual([(await get()).errorRate, (await get()).dropAfterTokens], [0, null], 'PUT replaces the whole set');
    for (const [body, field] of [
      [{ errorRate: 2 }, 'errorRate'],
      [{ stallAfterTokens: 'x' }, 'stallAfterTokens'],
      [{ errorRat: 0.1 }, 'errorRat'],
      [[1], 'body'],
    ] as const) {
      const res = await fetch(`${url}/admin/faults`, { method: 'PUT', body: JSON.stringify(body) });
      assert.equal(res.status, 400);
      const e = (await res.json()) as { error: { message: string } };
      assert.ok(e.error.message.includes(`'${field}'`), e.error.message);
      if (field === 'errorRat') assert.match(e.error.message, /did you mean 'errorRate'/);
    }
    assert.equal((await get()).errorRate, 0, 'a rejected change changes nothing');
    // a warm-up set at runtime is a model reload
    await fetch(`${url}/admin/faults`, { method: 'PATCH', body: JSON.stringify({ warmupMs: 60_000 }) });
    assert.equal((await fetch(`${url}/health`)).status, 503);
    await fetch(`${url}/admin/faults`, { method: 'PATCH', body: JSON.stringify({ warmupMs: 0 }) });
    assert.equal((await fetch(`${url}/health`)).status, 200);
  });

  it('guards the admin API with --admin-token, and closes it beyond loopback without one', async (t) => {
    const { url } = await startSim(t, { adminToken: 's3cret' });
    assert.equal((await fetch(`${url}/admin/faults`)).status, 401);
    assert.equal((await fetch(`${url}/admin/faults`, { headers: { authorization: 'Bearer s3cret' } })).status, 200);
    const open = await startSim(t, { host: '0.0.0.0' });
    const local = open.url.replace('0.0.0.0', '127.0.0.1');
    assert.equal((await fetch(`${local}/admin/faults`)).status, 403);
    assert.equal((await fetch(`${local}/health`)).status, 200, 'inference and health stay open');
  });

  it('crashes after N answered requests: connections are cut and onCrash is called', async (t) => {
    let crashed = '';
    const { url } = await startSim(t, { faults: { crashAfterRequests: 2 } }, { onCrash: (r) => (crashed = r) });
    assert.equal((await postJson(`${url}/v1/chat/completions`, chatBody())).status, 200);
    assert.equal((await postJson(`${url}/v1/embeddings`, { model: 'm1', input: 'x' })).status, 200);
    await eventually(() => crashed !== '');
    assert.match(crashed, /crashAfterRequests 2/);
    await assert.rejects(fetch(`${url}/health`), 'nothing listens any more');
  });

  it('exits the real process non-zero on POST /admin/crash, after answering', async (t) => {
    const p = spawnSwitchboard(t, ['sim', '--port', '0', '--decode-ms', '0']);
    const url = await p.listeningUrl();
    const res = await fetch(`${url}/admin/crash`, { method: 'POST' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'crashing' });
    const code = await p.exited;
    assert.equal(code, SIM_CRASH_EXIT_CODE);
    assert.notEqual(code, 0);
  });
});
