// The request peek: the top-level scan agrees with JSON.parse on what the router reads, large
// bodies take the scan, and malformed bodies still get the 400 naming the problem.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../src/core/index.js';
import { scanTopLevel } from '../../src/router/json-scan.js';
import { parseRequestInfo, RequestInfo, SCAN_MIN_BYTES } from '../../src/router/request-info.js';

const WANTED = new Set(['model', 'stream', 'max_tokens', 'prompt_cache_key', 'n']);

function expected(text: string): Map<string, unknown> {
  const v = JSON.parse(text) as Record<string, unknown>;
  const m = new Map<string, unknown>();
  for (const k of WANTED) if (Object.hasOwn(v, k)) m.set(k, typeof v[k] === 'object' && v[k] !== null ? undefined : v[k]);
  return m;
}

/** Random JSON values with the awkward parts: escapes, unicode, nesting, numbers, whitespace. */
function randomValue(r: () => number, depth: number): unknown {
  const pick = Math.floor(r() * (depth > 3 ? 5 : 7));
  const strs = ['', 'plain', 'quote " inside', 'back\\slash\\', 'tab\tnew\nline', 'ünïcödé ✓ 𝄞', '{"looks":["like",json]}', '\\"', 'end\\'];
  switch (pick) {
    case 0:
      return strs[Math.floor(r() * strs.length)];
    case 1:
      return Math.floor(r() * 1e6) * (r() < 0.5 ? -1 : 1) / (r() < 0.5 ? 1 : 1000);
    case 2:
      return r() < 0.5;
    case 3:
      return null;
    case 4:
      return 1e21 * r();
    case 5:
      return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < Math.floor(r() * 4); i++) o[strs[Math.floor(r() * strs.length)]! + i] = randomValue(r, depth + 1);
      return o;
    }
  }
}

describe('top-level JSON scan', () => {
  it('agrees with JSON.parse on 2000 random objects, pretty-printed or not', () => {
    const rnd = seededRandom(42);
    const r = () => rnd.next();
    for (let i = 0; i < 2000; i++) {
      const obj: Record<string, unknown> = {};
      for (const k of ['messages', 'model', 'x"y', 'stream', 'max_tokens', 'n', 'prompt_cache_key', 'tools']) if (r() < 0.7) obj[k] = randomValue(r, 0);
      const text = JSON.stringify(obj, null, r() < 0.3 ? 2 : undefined);
      const got = scanTopLevel(Buffer.from(text), WANTED);
      assert.ok(got, `scan gave up on ${text}`);
      assert.deepEqual(got, expected(text), text);
    }
  });

  it('gives up on what is not one JSON object', () => {
    for (const bad of ['', '[]', '{"a":1', '{"a" 1}', '{"a":1,}x', '{"a":"unterminated}', '{"a":[1,2}', '{"a":{"b":1]}', '{a:1}', '{"a":1} {"b":2}', '{"model":tru}']) {
      assert.equal(scanTopLevel(Buffer.from(bad), WANTED), undefined, bad);
    }
  });
});

describe('request info', () => {
  const big = (extra: Record<string, unknown>): Buffer =>
    Buffer.from(JSON.stringify({ messages: [{ role: 'user', content: 'lorem "ipsum" \\ ✓ '.repeat(2000) }], ...extra }));

  it('reads a large body by scanning, and parses it only when a policy asks', () => {
    const raw = big({ model: 'm1', stream: true, max_tokens: 64, prompt_cache_key: 'sess' });
    assert.ok(raw.length >= SCAN_MIN_BYTES);
    const info = parseRequestInfo('chat', 'POST', raw);
    assert.ok(info instanceof RequestInfo);
    assert.deepEqual([info.model, info.stream, info.maxTokens, info.promptCacheKey], ['m1', true, 64, 'sess']);
    assert.equal((info.body?.messages as unknown[]).length, 1, 'the full body on demand');
  });

  it('gives a large malformed body the same 400 as a small one', () => {
    const raw = Buffer.concat([big({ model: 'm1' }).subarray(0, 20_000)]);
    const err = parseRequestInfo('chat', 'POST', raw);
    assert.ok(!(err instanceof RequestInfo));
    assert.equal(err.code, 'SB_ERR_INVALID_JSON');
    const wrong = parseRequestInfo('chat', 'POST', big({ model: ['m1'] }));
    assert.ok(!(wrong instanceof RequestInfo));
    assert.equal(wrong.code, 'SB_ERR_INVALID_FIELD');
    assert.equal(wrong.param, 'model');
    const stream = parseRequestInfo('chat', 'POST', big({ model: 'm1', stream: 'yes' }));
    assert.ok(!(stream instanceof RequestInfo));
    assert.equal(stream.param, 'stream');
  });

  it('routes an unknown path without a model when its body is not JSON, as InfiniLM did', () => {
    const info = parseRequestInfo('other', 'POST', Buffer.from('not json'));
    assert.ok(info instanceof RequestInfo);
    assert.equal(info.model, undefined);
  });
});
