// The official `openai` npm client against the sim: what real applications will point at it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import OpenAI from 'openai';
import { startSim } from './sim-helpers.js';

describe('sim with the official openai client', () => {
  it('does a chat completion, a streamed one with usage, and an embedding', async (t) => {
    const { url } = await startSim(t, { embeddingDim: 64 });
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });

    const chat = await client.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'Hi!' }], max_tokens: 6 });
    assert.equal(chat.object, 'chat.completion');
    assert.ok(chat.choices[0]!.message.content);
    assert.equal(chat.usage?.completion_tokens, 6);

    const stream = await client.chat.completions.create({ model: 'm2', messages: [{ role: 'user', content: 'Hi!' }], max_tokens: 6, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let completionTokens: number | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) completionTokens = chunk.usage.completion_tokens;
    }
    assert.ok(text.length > 0);
    assert.equal(finish, 'length');
    assert.equal(completionTokens, 6);

    // the client asks for base64 by default and decodes it itself
    const emb = await client.embeddings.create({ model: 'm1', input: 'hello world' });
    const v = emb.data[0]!.embedding;
    assert.equal(v.length, 64);
    assert.ok(Math.abs(v.reduce((s, x) => s + x * x, 0) - 1) < 1e-4);

    await assert.rejects(client.chat.completions.create({ model: 'missing', messages: [{ role: 'user', content: 'x' }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError);
      assert.match(err.message, /The model 'missing' does not exist/);
      return true;
    });
  });
});
