// The router's proxy path against real backends on loopback: routing by model, the OpenAI
// surface and its errors, retries before the first byte only, streaming, stream cuts, client
// aborts, passive health with re-admission, priority failover.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { describe, it } from 'node:test';
import OpenAI from 'openai';
import { chat, sleep, spec, sse, startBackend, startRouter } from './helpers.js';

describe('router: routing and the OpenAI surface', () => {
  it('routes by model, round robin per model (not one global counter), naming the backend', async (t) => {
    const [a, b, c] = await Promise.all([startBackend(t, 'a'), startBackend(t, 'b'), startBackend(t, 'c')]);
    const r = await startRouter(t, {}, [spec(a, ['m1']), spec(b, ['m1']), spec(c, ['m2'])]);
    const served: string[] = [];
    for (const model of ['m1', 'm2', 'm1', 'm2', 'm1']) {
      const res = await chat(r.url, { model });
      assert.equal(res.status, 200);
      served.push(res.headers.get('x-switchboard-backend')!);
      const body = (await res.json()) as { model: string };
      assert.equal(body.model, model);
    }
    assert.deepEqual(served, ['a', 'c', 'b', 'c', 'a']);
  });

  it('forwards path, query and body unchanged, un-prefixed aliases too, with a request id both ways', async (t) => {
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, {}, [spec(a, ['m1'])]);
    const body = JSON.stringify({ model: 'm1', messages: [{ role: 'user', content: 'ünïcode' }], extra: { x: [1, 2] } });
    const res = await fetch(`${r.url}/chat/completions?trace=1`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'req-abc', authorization: 'Bearer k' }, body });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-request-id'), 'req-abc');
    const seen = a.seen.at(-1)!;
    assert.equal(seen.url, '/chat/completions?trace=1');
    assert.equal(seen.body, body);
    assert.equal(seen.headers['x-request-id'], 'req-abc');
    assert.equal(seen.headers.authorization, 'Bearer k');
    assert.ok(String(seen.headers['x-forwarded-for']).includes('127.0.0.1'));
    const gen = await chat(r.url, { model: 'm1' });
    assert.match(gen.headers.get('x-request-id') ?? '', /^[\w-]+-\w+$/, 'generated when absent');
    assert.equal(a.seen.at(-1)!.headers['x-request-id'], gen.headers.get('x-request-id'));
  });

  it('answers errors in the OpenAI envelope with InfiniLM\'s messages', async (t) => {
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, { maxBodyBytes: 1000 }, [spec(a, ['m1'])]);
    const none = await chat(r.url, { model: 'nope' });
    assert.equal(none.status, 503);
    assert.deepEqual(await none.json(), { error: { message: "No healthy services available for model 'nope'", type: 'service_unavailable', param: null, code: 'SB_ERR_NO_HEALTHY_BACKENDS' } });
    const bad = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', body: '{"model": "m1",' });
    assert.equal(bad.status, 400);
    const badBody = (await bad.json()) as { error: { message: string; code: string } };
    assert.match(badBody.error.message, /^Invalid JSON: /);
    const wrongType = await chat(r.url, { model: 42 });
    assert.equal(wrongType.status, 400);
    assert.match(((await wrongType.json()) as { error: { message: string } }).error.message, /'model'/);
    const big = await chat(r.url, { model: 'm1', pad: 'x'.repeat(2000) });
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { error: { code: string } }).error.code, 'SB_ERR_BODY_TOO_LARGE');
    const unknown = await fetch(`${r.url}/v1/nothing-here`);
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: { type: string } }).error.type, 'not_found_error');
    assert.equal(a.seen.length, 0, 'nothing reached the backend');
  });

  it('shows the message through the official openai client', async (t) => {
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, {}, [spec(a, ['m1'])]);
    const client = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const ok = await client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(ok.choices[0]?.message.content, 'hello from a');
    await assert.rejects(client.chat.completions.create({ model: 'ghost', messages: [{ role: 'user', content: 'hi' }] }), (err: Error & { status?: number }) => {
      assert.equal(err.status, 503);
      assert.match(err.message, /No healthy services available for model 'ghost'/);
      return true;
    });
  });

  it('aggregates /v1/models and /models from healthy backends (models_list whole, first wins)', async (t) => {
    const [a, b] = await Promise.all([startBackend(t, 'a'), startBackend(t, 'b')]);
    const r = await startRouter(t, {}, [
      spec(a, ['m1', 'm2'], { models_list: [{ id: 'm1', object: 'model', owned_by: 'vllm', max_model_len: 4096 }] }),
      spec(b, ['m2', 'm3']),
    ]);
    for (const path of ['/v1/models', '/models']) {
      const res = await fetch(`${r.url}${path}`);
      const body = (await res.json()) as { object: string; data: { id: string; max_model_len?: number }[] };
      assert.equal(body.object, 'list');
      assert.deepEqual(body.data.map((m) => m.id), ['m1', 'm2', 'm3']);
      assert.equal(body.data[0]?.max_model_len, 4096);
    }
  });
});

describe('router: retries, failures and passive health', () => {
  it('retries a refused connection and a 5xx on another backend before any byte is sent', async (t) => {
    const [a, b] = await Promise.all([startBackend(t, 'a'), startBackend(t, 'b')]);
    const r = await startRouter(t, {}, [spec(a, ['m1']), spec(b, ['m1'])]);
    a.mode = 'fail500';
    for (let i = 0; i < 4; i++) {
      const res = await chat(r.url, { model: 'm1' });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-switchboard-backend'), 'b');
    }
    await a.close();
    const res = await chat(r.url, { model: 'm1' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-switchboard-backend'), 'b');
    const m = await (await fetch(`${r.url}/metrics`)).text();
    assert.match(m, /router_retries_total\{model="m1"\} [1-9]/);
  });

  it('passes a 5xx through when no other backend is left, and answers 503/502/504 by cause', async (t) => {
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, { timeouts: { connectMs: 1000, firstByteMs: 300, idleMs: 300, totalMs: 2000 }, passiveHealth: { maxFails: 0 } }, [spec(a, ['m1'])]);
    a.mode = 'fail500';
    const res = await chat(r.url, { model: 'm1' });
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), { error: { message: 'boom' } }, 'the backend\'s own body');
    a.mode = 'hang';
    const slow = await chat(r.url, { model: 'm1' });
    assert.equal(slow.status, 504);
    assert.equal(((await slow.json()) as { error: { message: string } }).error.message, 'Service timeout');
    a.mode = 'close';
    const reset = await chat(r.url, { model: 'm1' });
    assert.equal(reset.status, 502);
    assert.equal(((await reset.json()) as { error: { message: string } }).error.message, 'Bad gateway - error communicating with service');
    await a.close();
    const refused = await chat(r.url, { model: 'm1' });
    assert.equal(refused.status, 503);
    assert.equal(((await refused.json()) as { error: { message: string } }).error.message, 'Service unavailable - connection refused');
  });

  it('keeps serving every request while a backend is killed in the middle of a run', async (t) => {
    const [a, b, c] = await Promise.all([startBackend(t, 'a'), startBackend(t, 'b'), startBackend(t, 'c')]);
    const r = await startRouter(t, {}, [spec(a, ['m1']), spec(b, ['m1']), spec(c, ['m1'])]);
    const statuses: number[] = [];
    const worker = async (): Promise<void> => {
      for (let i = 0; i < 60; i++) {
        const res = await chat(r.url, { model: 'm1', stream: i % 2 === 0 });
        await res.arrayBuffer();
        statuses.push(res.status);
      }
    };
    const run = Promise.all([worker(), worker(), worker(), worker()]);
    await sleep(30);
    await b.close();
    await run;
    assert.equal(statuses.length, 240);
    assert.deepEqual(statuses.filter((s) => s !== 200), [], 'no request failed');
    const stats = (await (await fetch(`${r.url}/stats`)).json()) as { services: { name: string; state: string; error_count: number }[] };
    const sb = stats.services.find((s) => s.name === 'b')!;
    assert.ok(sb.error_count >= 1);
    assert.equal(sb.state, 'ejected');
  });

  it('ejects after max_fails within fail_timeout, caps ejections per model, re-admits after a good probe', async (t) => {
    const [a, b] = await Promise.all([startBackend(t, 'a'), startBackend(t, 'b')]);
    const r = await startRouter(t, { passiveHealth: { maxFails: 2, failTimeoutMs: 300, maxEjectedShare: 0.5 } }, [spec(a, ['m1']), spec(b, ['m1'])]);
    a.mode = 'fail500';
    for (let i = 0; i < 4; i++) await (await chat(r.url, { model: 'm1' })).arrayBuffer();
    const stateOf = async (name: string): Promise<string> => {
      const s = (await (await fetch(`${r.url}/services`)).json()) as { services: { name: string; state: string }[] };
      return s.services.find((x) => x.name === name)!.state;
    };
    assert.equal(await stateOf('a'), 'ejected');
    // b fails too, but ejecting it would leave m1 with nothing (cap 50%): it stays in
    b.mode = 'fail500';
    for (let i = 0; i < 3; i++) await (await chat(r.url, { model: 'm1' })).arrayBuffer();
    assert.equal(await stateOf('b'), 'up');
    b.mode = 'ok';
    // a still fails its probe (/health answers 200 in fail500 mode, so make it refuse)
    a.mode = 'fail503';
    await sleep(450);
    assert.equal(await stateOf('a'), 'ejected', 'a failed probe ejects again, for longer');
    a.mode = 'ok';
    await sleep(900);
    assert.equal(await stateOf('a'), 'up', 're-admitted after a good probe');
    const served = new Set<string>();
    for (let i = 0; i < 4; i++) served.add((await chat(r.url, { model: 'm1' })).headers.get('x-switchboard-backend')!);
    assert.deepEqual([...served].sort(), ['a', 'b']);
  });

  it('sends traffic to the best priority group and spills to the next when it has no capacity', async (t) => {
    const [chatA, chatB, code] = await Promise.all([startBackend(t, 'chat-a'), startBackend(t, 'chat-b'), startBackend(t, 'code')]);
    const r = await startRouter(t, {}, [spec(chatA, ['assistant'], { priority: 0 }), spec(chatB, ['assistant'], { priority: 0 }), spec(code, ['assistant'], { priority: 1 })]);
    const who = async (): Promise<string> => (await chat(r.url, { model: 'assistant' })).headers.get('x-switchboard-backend')!;
    const first = [await who(), await who(), await who(), await who()];
    assert.ok(!first.includes('code'), `primary group only: ${first.join(',')}`);
    await chatA.close();
    await chatB.close();
    assert.equal(await who(), 'code', 'failover to the next group');
  });

  it('retries within a budget: a fleet-wide outage does not multiply the load', async (t) => {
    const backends = await Promise.all([0, 1, 2, 3].map((i) => startBackend(t, `b${i}`)));
    const r = await startRouter(t, { retries: { attempts: 4, budgetRatio: 0.1, budgetMinPerSecond: 0.5, budgetWindowMs: 10_000 }, passiveHealth: { maxFails: 0 } }, backends.map((b) => spec(b, ['m1'])));
    for (const b of backends) b.mode = 'fail500';
    for (let i = 0; i < 20; i++) await (await chat(r.url, { model: 'm1' })).arrayBuffer();
    const total = backends.reduce((n, b) => n + b.seen.length, 0);
    // 20 first attempts + at most 0.1 × 20 + 0.5 × 10 = 7 retries
    assert.ok(total <= 27, `backend attempts ${total}`);
    assert.ok(total >= 20);
  });
});

describe('router: streaming', () => {
  it('passes SSE through byte for byte', async (t) => {
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, {}, [spec(a, ['m1'])]);
    const direct = await (await fetch(`${a.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'm1', stream: true }) })).text();
    const res = await chat(r.url, { model: 'm1', stream: true });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    assert.equal(await res.text(), direct);
    const m = await (await fetch(`${r.url}/metrics`)).text();
    assert.match(m, /router_ttft_seconds_count\{model="m1"\} 1/);
  });

  it('ends a stream the backend cut with an SSE error event and no [DONE], and counts it', async (t) => {
    const [a, b] = await Promise.all([startBackend(t, 'a'), startBackend(t, 'b')]);
    const r = await startRouter(t, { passiveHealth: { maxFails: 0 } }, [spec(a, ['m1']), spec(b, ['m1'])]);
    a.mode = 'cut';
    b.mode = 'cut';
    const res = await chat(r.url, { model: 'm1', stream: true });
    assert.equal(res.status, 200);
    const { events, raw } = await sse(res);
    assert.ok(!raw.includes('[DONE]'));
    assert.equal(events.filter((e) => e.event === 'message').length, 3, 'the chunks before the cut, not retried elsewhere');
    const last = events.at(-1)!;
    assert.equal(last.event, 'error');
    assert.equal((JSON.parse(last.data) as { error: { code: string } }).error.code, 'SB_ERR_STREAM_CUT');
    const m = await (await fetch(`${r.url}/metrics`)).text();
    assert.match(m, /router_stream_cuts_total\{backend="[ab]"\} 1/);
    // the official client sees an error, not a clean end
    const client = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }], stream: true });
    await assert.rejects(async () => {
      for await (const _ of stream) void _;
    }, /ended the stream before it was complete/);
  });

  it('cancels the upstream request at once when the client goes away, without blaming the backend', async (t) => {
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, {}, [spec(a, ['m1'])]);
    a.mode = 'slow';
    a.slowMs = 20;
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${r.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        let n = 0;
        res.on('data', () => {
          if (++n === 3) {
            req.destroy();
            resolve();
          }
        });
      });
      req.on('error', (err) => (err.message.includes('socket hang up') || err.message.includes('aborted') ? undefined : reject(err)));
      req.end(JSON.stringify({ model: 'm1', stream: true, messages: [] }));
    });
    await sleep(150);
    assert.equal(a.aborted, 1, 'the backend saw its request cancelled');
    const s = (await (await fetch(`${r.url}/services`)).json()) as { services: { error_count: number; state: string; in_flight: number }[] };
    assert.equal(s.services[0]?.error_count, 0);
    assert.equal(s.services[0]?.state, 'up');
    assert.equal(s.services[0]?.in_flight, 0);
  });

  it('times out an idle stream and ends it with an error event', async (t) => {
    const a = await startBackend(t, 'a');
    const r = await startRouter(t, { timeouts: { connectMs: 1000, firstByteMs: 1000, idleMs: 100, totalMs: 5000 } }, [spec(a, ['m1'])]);
    a.mode = 'slow';
    a.slowMs = 400;
    const { events, raw } = await sse(await chat(r.url, { model: 'm1', stream: true }));
    assert.ok(!raw.includes('[DONE]'));
    assert.equal(events.at(-1)?.event, 'error');
  });
});
