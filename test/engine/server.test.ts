import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/index.js';
import { countTokens } from '../../src/engine/tokenizer.js';
import { promtoolCheckMetrics } from '../helpers/promtool.js';
import { requireTool } from '../helpers/services.js';
import { postJson, sseData, startSim } from './sim-helpers.js';

const HELLO = [{ role: 'user', content: 'Hello there, how are you?' }];
// ChatML-like template: 3 tokens per message + 2; "Hello there, how are you?" is 7 tokens
const HELLO_PROMPT_TOKENS = 3 + 7 + 2;

interface ChatChunk {
  id: string;
  object: string;
  created: number;
  model: string;
  system_fingerprint: string;
  choices: { index: number; delta: { role?: string; content?: string }; logprobs: null; finish_reason: string | null }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
}

describe('sim HTTP surface', () => {
  it('lists its models on /v1/models and /models, and /health says ok', async (t) => {
    const { url } = await startSim(t);
    for (const path of ['/v1/models', '/models']) {
      const res = await fetch(url + path);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { object: string; data: { id: string; object: string; created: number; owned_by: string }[] };
      assert.equal(body.object, 'list');
      assert.deepEqual(body.data.map((m) => m.id), ['m1', 'm2']);
      for (const m of body.data) {
        assert.equal(m.object, 'model');
        assert.equal(typeof m.created, 'number');
        assert.equal(typeof m.owned_by, 'string');
      }
    }
    const health = await fetch(`${url}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
  });

  it('answers a chat completion with OpenAI\'s shape and a usage that matches the text', async (t) => {
    const { url } = await startSim(t);
    for (const path of ['/v1/chat/completions', '/chat/completions']) {
      const res = await postJson(url + path, { model: 'm2', messages: HELLO, max_tokens: 9 });
      assert.equal(res.status, 200);
      const body = (await res.json()) as {
        id: string; object: string; model: string; created: number;
        choices: { index: number; message: { role: string; content: string }; finish_reason: string }[];
        usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
      };
      assert.match(body.id, /^chatcmpl-/);
      assert.equal(body.object, 'chat.completion');
      assert.equal(body.model, 'm2');
      assert.equal(body.choices.length, 1);
      assert.equal(body.choices[0]!.message.role, 'assistant');
      assert.equal(body.choices[0]!.finish_reason, 'length');
      assert.equal(countTokens(body.choices[0]!.message.content), 9);
      assert.deepEqual([body.usage.prompt_tokens, body.usage.completion_tokens, body.usage.total_tokens], [HELLO_PROMPT_TOKENS, 9, HELLO_PROMPT_TOKENS + 9]);
    }
  });

  it('streams chat chunks shaped like OpenAI\'s, ending with [DONE]; usage only when asked', async (t) => {
    const { url } = await startSim(t);
    const plain = await sseData(await postJson(`${url}/v1/chat/completions`, { model: 'm1', messages: HELLO, max_tokens: 5, stream: true }));
    assert.equal(plain.at(-1), '[DONE]');
    const chunks = plain.slice(0, -1).map((d) => JSON.parse(d) as ChatChunk);
    assert.equal(chunks.length, 1 + 5 + 1, 'role, five tokens, finish');
    for (const c of chunks) {
      assert.deepEqual(Object.keys(c), ['id', 'object', 'created', 'model', 'system_fingerprint', 'choices']);
      assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(c.id, chunks[0]!.id);
      assert.equal(c.choices[0]!.index, 0);
      assert.equal(c.choices[0]!.logprobs, null);
    }
    assert.deepEqual(chunks[0]!.choices[0]!.delta, { role: 'assistant', content: '' });
    const text = chunks.slice(1, 6).map((c) => c.choices[0]!.delta.content).join('');
    assert.equal(countTokens(text), 5);
    assert.deepEqual(chunks[6]!.choices[0], { index: 0, delta: {}, logprobs: null, finish_reason: 'length' });

    const withUsage = await sseData(await postJson(`${url}/v1/chat/completions`, { model: 'm1', messages: HELLO, max_tokens: 5, stream: true, stream_options: { include_usage: true } }));
    const uc = withUsage.slice(0, -1).map((d) => JSON.parse(d) as ChatChunk);
    assert.equal(uc.length, 8);
    for (const c of uc.slice(0, -1)) assert.equal(c.usage, null);
    assert.deepEqual(uc.at(-1)!.choices, []);
    assert.deepEqual({ ...uc.at(-1)!.usage }, { prompt_tokens: HELLO_PROMPT_TOKENS, completion_tokens: 5, total_tokens: HELLO_PROMPT_TOKENS + 5, prompt_tokens_details: { cached_tokens: 0 } });
    assert.equal(uc.slice(1, 6).map((c) => c.choices[0]!.delta.content).join(''), text, 'same request and seed, same text');
  });

  it('serves legacy completions, streamed (text_completion chunks) and not, on both paths', async (t) => {
    const { url } = await startSim(t);
    const res = await postJson(`${url}/completions`, { model: 'm1', prompt: 'Once upon a time', max_tokens: 4 });
    const body = (await res.json()) as { object: string; choices: { text: string; index: number; finish_reason: string }[]; usage: { prompt_tokens: number; completion_tokens: number } };
    assert.equal(body.object, 'text_completion');
    assert.equal(countTokens(body.choices[0]!.text), 4);
    assert.deepEqual([body.usage.prompt_tokens, body.usage.completion_tokens], [4, 4]);
    const data = await sseData(await postJson(`${url}/v1/completions`, { model: 'm1', prompt: [1, 2, 3], max_tokens: 3, stream: true, stream_options: { include_usage: true } }));
    assert.equal(data.at(-1), '[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as { object: string; choices: { text: string; finish_reason: string | null }[]; usage: { prompt_tokens: number } | null });
    assert.ok(chunks.every((c) => c.object === 'text_completion'));
    assert.deepEqual(chunks.map((c) => (c.choices.length > 0 ? c.choices[0]!.finish_reason : 'usage')), [null, null, null, 'length', 'usage']);
    assert.equal(chunks.at(-1)!.usage!.prompt_tokens, 3, 'token-id prompts count as given');
  });

  it('counts a repeated prompt as a prefix-cache hit in usage', async (t) => {
    const { url } = await startSim(t, { blockSizeTokens: 4 });
    const messages = [{ role: 'system', content: 'You are a helpful assistant that answers in one short sentence about routing.' }, ...HELLO];
    const first = (await (await postJson(`${url}/v1/chat/completions`, { messages, max_tokens: 2 })).json()) as { usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } } };
    const again = (await (await postJson(`${url}/v1/chat/completions`, { messages, max_tokens: 2 })).json()) as typeof first;
    assert.equal(first.usage.prompt_tokens_details.cached_tokens, 0);
    const p = again.usage.prompt_tokens;
    assert.equal(again.usage.prompt_tokens_details.cached_tokens, Math.min(p - (p % 4), p - 1));
  });

  it('embeds a string or an array, float or base64, with a configurable dimension', async (t) => {
    const { url } = await startSim(t, { embeddingDim: 32 });
    const one = (await (await postJson(`${url}/v1/embeddings`, { model: 'm1', input: 'hello world' })).json()) as { object: string; model: string; data: { object: string; index: number; embedding: number[] }[]; usage: { prompt_tokens: number; total_tokens: number } };
    assert.equal(one.object, 'list');
    assert.equal(one.model, 'm1');
    assert.equal(one.data[0]!.object, 'embedding');
    assert.equal(one.data[0]!.embedding.length, 32);
    assert.ok(Math.abs(one.data[0]!.embedding.reduce((s, x) => s + x * x, 0) - 1) < 1e-5);
    assert.deepEqual(one.usage, { prompt_tokens: 2, total_tokens: 2 });
    const many = (await (await postJson(`${url}/embeddings`, { model: 'm1', input: ['hello world', 'other text'], dimensions: 8, encoding_format: 'base64' })).json()) as { data: { index: number; embedding: string }[] };
    assert.deepEqual(many.data.map((d) => d.index), [0, 1]);
    const decoded = Buffer.from(many.data[0]!.embedding, 'base64');
    assert.equal(decoded.length, 8 * 4);
    const again = (await (await postJson(`${url}/v1/embeddings`, { model: 'm1', input: 'hello world' })).json()) as typeof one;
    assert.deepEqual(again.data[0]!.embedding, one.data[0]!.embedding, 'deterministic');
    const tooBig = await postJson(`${url}/v1/embeddings`, { model: 'm1', input: 'x', dimensions: 64 });
    assert.equal(tooBig.status, 400);
  });

  it('reranks documents by relevance in the Cohere/Jina/vLLM shape', async (t) => {
    const { url } = await startSim(t);
    const docs = ['a recipe for apple pie', 'prefix caching makes routing faster', 'routing'];
    for (const path of ['/v1/rerank', '/rerank']) {
      const res = await postJson(url + path, { model: 'm1', query: 'prefix caching and routing', documents: docs, top_n: 2 });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { model: string; results: { index: number; relevance_score: number; document?: { text: string } }[]; usage: { total_tokens: number } };
      assert.equal(body.model, 'm1');
      assert.deepEqual(body.results.map((r) => r.index), [1, 2]);
      assert.ok(body.results[0]!.relevance_score >= body.results[1]!.relevance_score);
      assert.deepEqual(body.results[0]!.document, { text: docs[1] });
      assert.ok(body.usage.total_tokens > 0);
    }
    const bare = (await (await postJson(`${url}/v1/rerank`, { query: 'q', documents: [{ text: 'a' }, 'b'], return_documents: false })).json()) as { results: Record<string, unknown>[] };
    assert.equal(bare.results.length, 2);
    assert.deepEqual(Object.keys(bare.results[0]!).sort(), ['index', 'relevance_score']);
  });

  it('answers an unknown model with vLLM\'s 404 envelope', async (t) => {
    const { url } = await startSim(t);
    for (const [path, body] of [
      ['/v1/chat/completions', { model: 'nope', messages: HELLO }],
      ['/v1/embeddings', { model: 'nope', input: 'x' }],
    ] as const) {
      const res = await postJson(url + path, body);
      assert.equal(res.status, 404);
      assert.deepEqual(await res.json(), { error: { message: "The model 'nope' does not exist", type: 'invalid_request_error', param: 'model', code: 'model_not_found' } });
    }
  });

  it('answers bad input with a 400 naming the field, and never falls over', async (t) => {
    const { url, sim } = await startSim(t);
    const cases: [string, unknown, string][] = [
      ['/v1/chat/completions', '{"model": "m1", ', 'SB_ERR_INVALID_JSON'],
      ['/v1/chat/completions', { model: 'm1' }, 'messages'],
      ['/v1/chat/completions', { model: 'm1', messages: 'invalid_messages_format' }, 'messages'],
      ['/v1/chat/completions', { model: 'm1', messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
      ['/v1/chat/completions', { model: 'm1', messages: [{ content: 'x' }] }, 'messages[0].role'],
      ['/v1/chat/completions', { model: 7, messages: HELLO }, 'model'],
      ['/v1/chat/completions', { model: 'm1', messages: HELLO, max_tokens: 'x' }, 'max_tokens'],
      ['/v1/chat/completions', { model: 'm1', messages: HELLO, max_tokens: 0 }, 'max_tokens'],
      ['/v1/chat/completions', { model: 'm1', messages: HELLO, stream: 'yes' }, 'stream'],
      ['/v1/chat/completions', { model: 'm1', messages: HELLO, stream_options: { include_usage: true } }, 'stream_options'],
      ['/v1/chat/completions', { model: 'm1', messages: HELLO, n: 2 }, 'n'],
      ['/v1/chat/completions', [1, 2], 'body'],
      ['/v1/chat/completions', 'null', 'body'],
      ['/v1/completions', { model: 'm1' }, 'prompt'],
      ['/v1/completions', { model: 'm1', prompt: ['a', 'b'] }, 'prompt'],
      ['/v1/embeddings', { model: 'm1', input: [] }, 'input'],
      ['/v1/embeddings', { model: 'm1', input: 'x', encoding_format: 'int8' }, 'encoding_format'],
      ['/v1/rerank', { model: 'm1', documents: ['a'] }, 'query'],
      ['/v1/rerank', { model: 'm1', query: 'q', documents: [1] }, 'documents[0]'],
    ];
    for (const [path, body, field] of cases) {
      const res = await postJson(url + path, body);
      assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}`);
      const e = (await res.json()) as { error: { message: string; type: string; param: string | null; code: string } };
      assert.equal(e.error.type, 'invalid_request_error');
      if (field.startsWith('SB_ERR')) assert.equal(e.error.code, field);
      else {
        assert.ok(e.error.message.includes(field), `${e.error.message} should name ${field}`);
        if (field !== 'body') assert.equal(e.error.param, field);
      }
    }
    const tooLong = await postJson(`${url}/v1/chat/completions`, { model: 'm1', messages: HELLO, max_tokens: 9000 });
    assert.equal(tooLong.status, 400);
    assert.match(((await tooLong.json()) as { error: { message: string } }).error.message, /maximum context length is 8192 tokens/);
    assert.equal((await fetch(`${url}/v1/nothing`)).status, 404);
    assert.equal((await fetch(`${url}/v1/chat/completions`)).status, 405);
    assert.equal(sim.scheduler.stats().running, 0);
    assert.equal((await fetch(`${url}/health`)).status, 200, 'still alive');
  });

  it('refuses endpoints of another kind: an embeddings engine does not chat', async (t) => {
    const { url: emb } = await startSim(t, { kind: 'embeddings' });
    const chat = await postJson(`${emb}/v1/chat/completions`, { model: 'm1', messages: HELLO });
    assert.equal(chat.status, 400);
    assert.match(((await chat.json()) as { error: { message: string } }).error.message, /serves embeddings only/);
    assert.equal((await postJson(`${emb}/v1/embeddings`, { model: 'm1', input: 'x' })).status, 200);
    assert.equal((await postJson(`${emb}/v1/rerank`, { model: 'm1', query: 'q', documents: ['d'] })).status, 400);
    const { url: rr } = await startSim(t, { kind: 'rerank' });
    assert.equal((await postJson(`${rr}/v1/rerank`, { model: 'm1', query: 'q', documents: ['d'] })).status, 200);
    assert.equal((await postJson(`${rr}/v1/completions`, { model: 'm1', prompt: 'x' })).status, 400);
  });

  it('answers 503 "Loading model" during warm-up, like llama.cpp, then 200', async (t) => {
    const clock = new ManualClock();
    const { url } = await startSim(t, { faults: { warmupMs: 5000 } }, { clock });
    const loading = { error: { code: 503, message: 'Loading model', type: 'unavailable_error' } };
    const health = await fetch(`${url}/health`);
    assert.equal(health.status, 503);
    assert.deepEqual(await health.json(), loading);
    const chat = await postJson(`${url}/v1/chat/completions`, { model: 'm1', messages: HELLO });
    assert.equal(chat.status, 503);
    assert.deepEqual(await chat.json(), loading);
    assert.equal((await fetch(`${url}/v1/models`)).status, 503);
    assert.equal((await fetch(`${url}/metrics`)).status, 200, 'metrics are readable while loading');
    await clock.advance(5000);
    assert.equal((await fetch(`${url}/health`)).status, 200);
    assert.equal((await fetch(`${url}/v1/models`)).status, 200);
  });

  it('gives the same reply to the same request on two sims with the same seed', async (t) => {
    const body = { model: 'm1', messages: [{ role: 'user', content: 'Tell me about load balancing.' }], max_tokens: 20 };
    const replies: string[] = [];
    for (const seed of [7, 7, 8]) {
      const { url } = await startSim(t, { seed });
      const r = (await (await postJson(`${url}/v1/chat/completions`, body)).json()) as { choices: { message: { content: string } }[] };
      replies.push(r.choices[0]!.message.content);
    }
    assert.equal(replies[0], replies[1]);
    assert.notEqual(replies[0], replies[2]);
  });

  it('shows llama.cpp-style /slots', async (t) => {
    const { url } = await startSim(t, { maxNumSeqs: 3 });
    const slots = (await (await fetch(`${url}/slots`)).json()) as { id: number; is_processing: boolean }[];
    assert.deepEqual(slots.map((s) => [s.id, s.is_processing]), [[0, false], [1, false], [2, false]]);
  });

  it('exposes vLLM metrics that count the traffic and pass promtool', async (t) => {
    const { url } = await startSim(t, { blockSizeTokens: 4 });
    for (let i = 0; i < 2; i++) await (await postJson(`${url}/v1/chat/completions`, { model: 'm2', messages: HELLO, max_tokens: 3 })).json();
    const res = await fetch(`${url}/metrics`);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const value = (name: string): number => {
      const m = new RegExp(`^${name}\\{model_name="m1"(?:,[^}]*)?\\} (\\S+)$`, 'm').exec(text);
      assert.ok(m, `${name} missing`);
      return Number(m[1]);
    };
    assert.equal(value('vllm:num_requests_running'), 0);
    assert.equal(value('vllm:num_requests_waiting'), 0);
    assert.equal(value('vllm:kv_cache_usage_perc'), 0);
    assert.equal(value('vllm:prompt_tokens_total'), 2 * HELLO_PROMPT_TOKENS);
    assert.equal(value('vllm:generation_tokens_total'), 6);
    assert.equal(value('vllm:prefix_cache_queries_total'), 2 * HELLO_PROMPT_TOKENS);
    // 12 prompt tokens = three 4-token blocks, all cached for the second request except the
    // last token, which is always computed
    assert.equal(value('vllm:prefix_cache_hits_total'), 11);
    assert.equal(value('vllm:time_to_first_token_seconds_count'), 2);
    assert.equal(value('vllm:e2e_request_latency_seconds_count'), 2);
    if (!requireTool(t, 'promtool')) return;
    // promtool's linter rejects ':' in names (reserved for recording rules), so vLLM's own
    // /metrics fails it the same way (exit 3, lint only). The text must parse, and the colon
    // rule must be its only finding; the same text with '_' for ':' must pass outright.
    const real = promtoolCheckMetrics(text);
    const findings = real.output.split('\n').filter((l) => l.trim() !== '');
    assert.ok(findings.length > 0 && findings.every((l) => l.endsWith("metric names should not contain ':'")), real.output);
    const underscored = promtoolCheckMetrics(text.replace(/^(# (?:HELP|TYPE) )?vllm:/gm, '$1vllm_'));
    assert.ok(underscored.ok, underscored.output);
  });
});
