// Token counts read from a JSON response's bytes: the same numbers JSON.parse would give, small
// bodies and large ones (the two search paths), with the whitespace Python's json.dumps writes,
// and nothing read from look-alikes inside strings; a stream's usage event through the router.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { USAGE_SPAN, usageOfJson } from '../../src/router/usage-scan.js';
import { chat, sleep, startRouter } from './helpers.js';

const completion = (usage: unknown, content = 'Hello there.', pad = 0): Record<string, unknown> => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  choices: [{ index: 0, message: { role: 'assistant', content: content + 'x'.repeat(pad) }, finish_reason: 'stop' }],
  usage,
});

describe('usage counts from response bytes', () => {
  it('reads both counts, compact or with json.dumps spacing, small and large bodies', () => {
    for (const pad of [0, 20_000]) {
      const body = completion({ prompt_tokens: 17, completion_tokens: 250, total_tokens: 267 }, 'hi', pad);
      for (const text of [JSON.stringify(body), JSON.stringify(body).replaceAll('":', '": ').replaceAll(',"', ', "'), JSON.stringify(body, null, 2)]) {
        assert.deepEqual(usageOfJson(Buffer.from(text)), { prompt_tokens: 17, completion_tokens: 250 }, `${text.length} bytes: ${text.slice(-120)}`);
      }
    }
  });

  it('reads a usage object that comes before the choices, and one count without the other', () => {
    const text = '{"usage":{"completion_tokens":3},"choices":[{"message":{"content":"ok"}}]}';
    assert.deepEqual(usageOfJson(Buffer.from(text)), { prompt_tokens: undefined, completion_tokens: 3 });
  });

  it('gives nothing without a usage object, or with usage null', () => {
    assert.equal(usageOfJson(Buffer.from(JSON.stringify(completion(undefined)))), undefined);
    assert.equal(usageOfJson(Buffer.from(JSON.stringify(completion(null)))), undefined);
    assert.equal(usageOfJson(Buffer.from('')), undefined);
  });

  it('is not fooled by "usage" inside the text, or as a value', () => {
    for (const pad of [0, 20_000]) {
      const body = completion({ prompt_tokens: 5, completion_tokens: 6 }, 'the "usage": {"prompt_tokens": 999} of it', pad);
      assert.deepEqual(usageOfJson(Buffer.from(JSON.stringify({ kind: 'usage', ...body }))), { prompt_tokens: 5, completion_tokens: 6 });
    }
  });

  it('looks for the counts within USAGE_SPAN characters of the usage object', () => {
    const far = `{"usage":{"other":"${'y'.repeat(USAGE_SPAN)}","prompt_tokens":1,"completion_tokens":2}}`;
    assert.deepEqual(usageOfJson(Buffer.from(far)), { prompt_tokens: undefined, completion_tokens: undefined });
    assert.deepEqual(usageOfJson(Buffer.from('{"usage":{"prompt_tokens":"7","completion_tokens":-1}}')), { prompt_tokens: undefined, completion_tokens: undefined });
  });
});

describe('usage counts through the router', () => {
  it('reads a stream\'s usage event written with json.dumps spacing', async (t) => {
    // a backend whose final event carries "usage": {...} with spaces, as Python's json.dumps writes it
    const backend = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"id": "c", "choices": [{"index": 0, "delta": {"content": "hi"}}]}\n\n');
        res.write('data: {"id": "c", "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 22}}\n\n');
        res.end('data: [DONE]\n\n');
      });
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => backend.close(() => r())));
    const port = (backend.address() as AddressInfo).port;
    const router = await startRouter(t, {}, [{ name: 'py', host: '127.0.0.1', port, url: `http://127.0.0.1:${port}`, status: 'running', healthy: true, metadata: { type: 'openai-api', models: ['m1'] }, static: true }]);
    const seen: { prompt: number; completion: number }[] = [];
    router.events.onRequest((ex) => seen.push({ prompt: ex.promptTokens, completion: ex.completionTokens }));
    const res = await chat(router.url, { model: 'm1', stream: true });
    assert.equal(res.status, 200);
    await res.text();
    for (let i = 0; i < 50 && seen.length === 0; i++) await sleep(10);
    assert.deepEqual(seen, [{ prompt: 11, completion: 22 }]);
  });
});
