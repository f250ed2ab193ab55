import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../src/core/index.js';
import { blockKeys } from '../../src/engine/hash.js';
import { PrefixCache } from '../../src/engine/prefix-cache.js';
import { planReply, TextGenerator } from '../../src/engine/text.js';
import { countTokens, tokenize, tokenizeChat } from '../../src/engine/tokenizer.js';
import { cosine, embedTokens, relevance, toBase64, truncate } from '../../src/engine/vectors.js';

describe('tokenizer', () => {
  it('counts words (8-character pieces) and punctuation, whitespace free', () => {
    const table: [string, number][] = [
      ['', 0],
      ['Hello, world!', 4],
      ['tokenization', 2],
      ['  spaced   out  ', 2],
      ['a1_b2 3.14', 4],
      ['naïve café', 2],
      ['12345678901234567', 3],
    ];
    for (const [text, n] of table) {
      assert.equal(tokenize(text).length, n, text);
      assert.equal(countTokens(text), n, text);
    }
  });

  it('gives equal ids to equal text and different ids to different words', () => {
    assert.deepEqual(tokenize('the router'), tokenize('the   router'));
    assert.notDeepEqual(tokenize('the router'), tokenize('the engine'));
  });

  it('counts random text the same way in both functions', () => {
    const r = seededRandom(3);
    const alphabet = 'ab cdE,.!  é\n\t0123456789_-';
    for (let i = 0; i < 200; i++) {
      let s = '';
      for (let j = 0; j < 60; j++) s += alphabet[Math.floor(r.next() * alphabet.length)];
      assert.equal(countTokens(s), tokenize(s).length, JSON.stringify(s));
    }
  });

  it('adds the chat template: 3 tokens per message and 2 to prime the reply', () => {
    const turns = [
      { role: 'system', text: 'Be brief.' },
      { role: 'user', text: 'Hello there' },
    ];
    assert.equal(tokenizeChat(turns).length, (3 + 3) + (3 + 2) + 2);
  });
});

describe('deterministic replies', () => {
  it('gives the same text for the same seed and a different one for another seed', () => {
    const a = new TextGenerator(42, 40, 'length').all();
    assert.equal(new TextGenerator(42, 40, 'length').all(), a);
    assert.notEqual(new TextGenerator(43, 40, 'length').all(), a);
  });

  it('produces exactly as many tokens as it was asked for, ending a stop with a period', () => {
    for (let seed = 0; seed < 50; seed++) {
      const n = 1 + (seed % 37);
      const stop = new TextGenerator(seed, n, 'stop').all();
      assert.equal(countTokens(stop), n, stop);
      if (n > 1) assert.ok(stop.endsWith('.'), stop);
      assert.equal(countTokens(new TextGenerator(seed, n, 'length').all()), n);
    }
  });

  it('plans early stops at the configured rate, never past max_tokens, never with ignore_eos', () => {
    let early = 0;
    for (let seed = 0; seed < 2000; seed++) {
      const p = planReply(seed, 20, 0.25, false);
      assert.ok(p.outputTokens >= 1 && p.outputTokens <= 20);
      assert.equal(p.finishReason, p.outputTokens < 20 ? 'stop' : 'length');
      if (p.finishReason === 'stop') early++;
      assert.deepEqual(planReply(seed, 20, 0.25, false), p, 'same seed, same plan');
      assert.deepEqual(planReply(seed, 20, 0.25, true), { outputTokens: 20, finishReason: 'length' });
    }
    assert.ok(early > 400 && early < 600, `early stops: ${early} of 2000`);
  });
});

describe('prefix cache', () => {
  it('matches leading blocks only and evicts the least recently used', () => {
    const cache = new PrefixCache(4);
    const a = blockKeys([1, 2, 3, 4, 5, 6, 7, 8, 9], 4, 7);
    assert.equal(a.length, 2, 'only full blocks have keys');
    assert.equal(cache.match(a), 0);
    cache.insert(a);
    assert.equal(cache.match(a), 2);
    assert.equal(cache.match(blockKeys([1, 2, 3, 4, 0, 6, 7, 8], 4, 7)), 1, 'a different second block misses');
    assert.equal(cache.match(blockKeys([0, 2, 3, 4, 5, 6, 7, 8], 4, 7)), 0, 'keys are cumulative');
    const b = blockKeys([11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22], 4, 7);
    cache.insert(b);
    assert.equal(cache.size, 4);
    // a's second block was the least recently used (its first block was touched by the partial
    // match above), so it alone was evicted
    assert.equal(cache.match(a), 1);
  });
});

describe('vectors', () => {
  it('are unit length, deterministic, and closer for texts that share words', () => {
    const q = embedTokens(tokenize('how does prefix caching speed up routing'), 256);
    let norm = 0;
    for (const x of q) norm += x * x;
    assert.ok(Math.abs(norm - 1) < 1e-5);
    assert.deepEqual(embedTokens(tokenize('how does prefix caching speed up routing'), 256), q);
    const near = embedTokens(tokenize('prefix caching and routing'), 256);
    const far = embedTokens(tokenize('a recipe for apple pie'), 256);
    assert.ok(cosine(q, near) > cosine(q, far) + 0.3);
    assert.ok(relevance(q, near) > 0.5 && relevance(q, far) < 0.1);
    assert.equal(embedTokens([], 8).length, 8, 'an empty input still gets a vector');
  });

  it('truncates to fewer dimensions renormalised, and encodes little-endian float32 base64', () => {
    const v = embedTokens(tokenize('hello'), 64);
    const t = truncate(v, 16);
    assert.equal(t.length, 16);
    assert.ok(Math.abs(cosine(t, t) - 1) < 1e-5);
    const buf = Buffer.from(toBase64(v), 'base64');
    assert.equal(buf.length, 64 * 4);
    assert.equal(buf.readFloatLE(4), v[1]);
  });
});
