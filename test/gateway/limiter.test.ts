import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, type SwitchboardError } from '../../src/core/index.js';
import {
  estimatePromptTokens,
  estimateTokens,
  formatResetDuration,
  MemoryRateLimitStore,
  parseRateLimits,
  RateLimiter,
  type Admission,
  type RateLimitedAdmission,
  type RateLimitsFile,
  type RateLimitStore,
} from '../../src/gateway/index.js';

function limiter(file: RateLimitsFile): { limiter: RateLimiter; clock: ManualClock; store: MemoryRateLimitStore } {
  const clock = new ManualClock();
  const store = new MemoryRateLimitStore({ clock });
  return { limiter: new RateLimiter({ config: parseRateLimits(file, 'test'), store }), clock, store };
}

function limited(a: Admission): RateLimitedAdmission {
  assert.equal(a.allowed, false, 'expected a refusal');
  assert.ok(!a.allowed && a.reason === 'limited');
  return a;
}

function allowed(a: Admission): Extract<Admission, { allowed: true }> {
  assert.equal(a.allowed, true, `expected admission, got ${JSON.stringify(a)}`);
  return a;
}

describe('RateLimiter', () => {
  it('admits everything, with no headers and no store calls, when nothing is limited', async () => {
    let calls = 0;
    const store: RateLimitStore = {
      kind: 'memory',
      take: () => (calls++, Promise.reject(new Error('not expected'))),
      give: () => (calls++, Promise.reject(new Error('not expected'))),
      close: () => Promise.resolve(),
    };
    const l = new RateLimiter({ config: parseRateLimits({}, 'test'), store });
    const a = allowed(await l.admit({ keyName: 'k', model: 'm', estimatedTokens: 1000 }));
    assert.deepEqual(a.headers, {});
    await a.settle(10);
    assert.equal(calls, 0);
  });

  it('refuses the request after a key\'s rpm with 429, Retry-After and OpenAI headers', async () => {
    const { limiter: l } = limiter({ defaults: { key: { rpm: 3 } } });
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) remaining.push(allowed(await l.admit({ keyName: 'a', model: 'm', estimatedTokens: 5 })).headers['x-ratelimit-remaining-requests']!);
    assert.deepEqual(remaining, ['2', '1', '0']);
    const d = limited(await l.admit({ keyName: 'a', model: 'm', estimatedTokens: 5 }));
    assert.equal(d.scope, 'key');
    assert.equal(d.limit, 'requests');
    assert.equal(d.retryAfterSeconds, 20, 'rpm 3 refills one request every 20 s');
    assert.equal(d.headers['retry-after'], '20');
    assert.equal(d.headers['retry-after-ms'], '20000');
    assert.equal(d.headers['x-ratelimit-limit-requests'], '3');
    assert.equal(d.headers['x-ratelimit-remaining-requests'], '0');
    assert.equal(d.headers['x-ratelimit-reset-requests'], '1m0s');
    const err: SwitchboardError = d.error();
    assert.equal(err.code, 'SB_ERR_RATE_LIMITED');
    assert.equal(err.statusCode, 429);
    assert.equal(err.type, 'rate_limit_error');
    assert.match(err.message, /API key 'a' on requests per minute \(RPM\): limit 3\. Please try again in 20s/);
    allowed(await l.admit({ keyName: 'b', model: 'm', estimatedTokens: 5 }));
    assert.equal(l.counters().limited.key_requests, 1);
  });

  it('takes a key\'s limits from the keys file first, then the policy\'s keys, then the defaults', async () => {
    const { limiter: l } = limiter({ defaults: { key: { rpm: 1, tpm: 1000 } }, keys: { named: { rpm: 2 } } });
    const lim = async (keyName: string, keyLimits?: { rpm?: number }): Promise<string | undefined> =>
      allowed(await l.admit({ keyName, model: 'm', estimatedTokens: 1, ...(keyLimits ? { keyLimits } : {}) })).headers['x-ratelimit-limit-requests'];
    assert.equal(await lim('someone'), '1');
    assert.equal(await lim('named'), '2');
    assert.equal(await lim('own', { rpm: 7 }), '7');
    const h = allowed(await l.admit({ keyName: 'named2', model: 'm', estimatedTokens: 1, keyLimits: { rpm: 9 } })).headers;
    assert.equal(h['x-ratelimit-limit-tokens'], '1000', 'an unset tpm of the key falls back to the default');
  });

  it('reserves prompt + max tokens and settles to the real usage, giving back the rest', async () => {
    const { limiter: l } = limiter({ models: { m: { tpm: 1000 } } });
    const first = allowed(await l.admit({ model: 'm', estimatedTokens: 400 }));
    assert.equal(first.headers['x-ratelimit-remaining-tokens'], '600');
    allowed(await l.admit({ model: 'm', estimatedTokens: 400 }));
    const d = limited(await l.admit({ model: 'm', estimatedTokens: 400 }));
    assert.equal(d.scope, 'model');
    assert.equal(d.limit, 'tokens');
    assert.equal(d.retryAfterSeconds, 12, '200 tokens short at 1000/min');
    await first.settle(100);
    const third = allowed(await l.admit({ model: 'm', estimatedTokens: 400 }));
    assert.equal(third.headers['x-ratelimit-remaining-tokens'], '100', '200 left + 300 given back - 400');
    await first.settle(0);
    assert.equal(allowed(await l.admit({ model: 'm', estimatedTokens: 0 })).headers['x-ratelimit-remaining-tokens'], '100', 'settle counts once');
  });

  it('charges usage beyond the reservation, so the overrun is paid back before more is admitted', async () => {
    const { limiter: l } = limiter({ models: { m: { tpm: 1000 } } });
    const a = allowed(await l.admit({ model: 'm', estimatedTokens: 100 }));
    await a.settle(700);
    assert.equal(allowed(await l.admit({ model: 'm', estimatedTokens: 0 })).headers['x-ratelimit-remaining-tokens'], '300');
  });

  it('lets a reservation above the whole budget run on a full bucket, then waits out its real usage', async () => {
    const { limiter: l, clock } = limiter({ models: { m: { tpm: 600 } } });
    const big = allowed(await l.admit({ model: 'm', estimatedTokens: 5000 }));
    assert.equal(big.headers['x-ratelimit-remaining-tokens'], '0');
    await big.settle(900);
    const d = limited(await l.admit({ model: 'm', estimatedTokens: 10 }));
    assert.equal(d.retryAfterSeconds, 31, '300 in debt + 10 at 10/s');
    await clock.advance(31_000);
    allowed(await l.admit({ model: 'm', estimatedTokens: 10 }));
  });

  it('gives back the takes that succeeded when another bucket refuses (nothing half-applied)', async () => {
    const { limiter: l } = limiter({ defaults: { key: { rpm: 10, tpm: 10_000 } }, models: { m: { tpm: 100 } } });
    allowed(await l.admit({ keyName: 'a', model: 'm', estimatedTokens: 80 }));
    const d = limited(await l.admit({ keyName: 'a', model: 'm', estimatedTokens: 50 }));
    assert.equal(d.scope, 'model');
    const probe = allowed(await l.admit({ keyName: 'a', model: 'other', estimatedTokens: 0 }));
    assert.equal(probe.headers['x-ratelimit-remaining-requests'], '8', 'the refused request\'s key request came back');
    assert.equal(l.counters().limited.model_tokens, 1);
  });

  it('reports the tightest bucket in the headers and the longest wait in a refusal', async () => {
    const { limiter: l } = limiter({ defaults: { key: { rpm: 100 } }, models: { m: { rpm: 2 } } });
    const h = allowed(await l.admit({ keyName: 'a', model: 'm', estimatedTokens: 1 })).headers;
    assert.equal(h['x-ratelimit-limit-requests'], '2');
    assert.equal(h['x-ratelimit-remaining-requests'], '1');
    assert.equal(h['x-ratelimit-reset-requests'], '30s');
  });

  it('gives the same headers as lines for the response head, and none when nothing limits', async () => {
    const { limiter: l } = limiter({ defaults: { key: { rpm: 100, tpm: 5000 } }, models: { m: { rpm: 2 } } });
    const a = allowed(await l.admit({ keyName: 'a', model: 'm', estimatedTokens: 300 }));
    assert.equal(
      a.lines,
      'x-ratelimit-limit-requests: 2\r\nx-ratelimit-remaining-requests: 1\r\nx-ratelimit-reset-requests: 30s\r\n' +
        'x-ratelimit-limit-tokens: 5000\r\nx-ratelimit-remaining-tokens: 4700\r\nx-ratelimit-reset-tokens: 3.6s\r\n',
    );
    const fromLines = Object.fromEntries(a.lines.split('\r\n').filter(Boolean).map((l) => l.split(': ') as [string, string]));
    assert.deepEqual(fromLines, { ...a.headers });
    const free = allowed(await l.admit({ model: 'other', estimatedTokens: 1 }));
    assert.equal(free.lines, '');
    assert.deepEqual(free.headers, {});
  });

  it('applies a reloaded policy at once', async () => {
    const { limiter: l } = limiter({ models: { m: { rpm: 100 } } });
    allowed(await l.admit({ model: 'm', estimatedTokens: 1 }));
    l.update(parseRateLimits({ models: { m: { rpm: 1 } } }, 'reload'));
    const h = allowed(await l.admit({ model: 'm', estimatedTokens: 1 })).headers;
    assert.equal(h['x-ratelimit-limit-requests'], '1');
    assert.equal(h['x-ratelimit-remaining-requests'], '0', '99 left is cut to the new capacity of 1');
    limited(await l.admit({ model: 'm', estimatedTokens: 1 }));
  });

  it('follows a key\'s own limits when a reloaded keys file changes them (the checks are kept per key and model)', async () => {
    const { limiter: l } = limiter({ defaults: { key: { rpm: 100 } } });
    const before = Object.freeze({ rpm: 5 });
    for (let i = 0; i < 2; i++) assert.equal(allowed(await l.admit({ keyName: 'a', keyLimits: before, model: 'm', estimatedTokens: 1 })).headers['x-ratelimit-limit-requests'], '5');
    const after = Object.freeze({ rpm: 2 });
    const h = allowed(await l.admit({ keyName: 'a', keyLimits: after, model: 'm', estimatedTokens: 1 })).headers;
    assert.equal(h['x-ratelimit-limit-requests'], '2');
    assert.equal(h['x-ratelimit-remaining-requests'], '1', '3 left is cut to the new capacity of 2, then one taken');
    allowed(await l.admit({ keyName: 'a', keyLimits: after, model: 'm', estimatedTokens: 1 }));
    limited(await l.admit({ keyName: 'a', keyLimits: after, model: 'm', estimatedTokens: 1 }));
    // the same key on another model shares its key bucket, and the model has none of its own here
    limited(await l.admit({ keyName: 'a', keyLimits: after, model: 'other', estimatedTokens: 1 }));
    // without its own limits the key falls back to the default again (the bucket keeps its level)
    assert.equal(limited(await l.admit({ keyName: 'a', model: 'm', estimatedTokens: 1 })).headers['x-ratelimit-limit-requests'], '100');
  });

  it('treats a model named like an Object property as just a model', async () => {
    const { limiter: l } = limiter({ models: { m: { rpm: 1 } } });
    allowed(await l.admit({ model: 'constructor', estimatedTokens: 1 }));
    allowed(await l.admit({ model: '__proto__', estimatedTokens: 1 }));
  });
});

describe('rate-limit policy file', () => {
  it('parses the seed-style YAML shape with defaults', () => {
    const c = parseRateLimits({ defaults: { key: { rpm: 60, tpm: 100_000 } }, models: { 'BAAI/bge-m3': { rpm: 3000 } } }, 'test');
    assert.equal(c.failMode, 'open');
    assert.equal(c.defaultMaxTokens, 256);
    assert.deepEqual({ ...c.models['BAAI/bge-m3'] }, { rpm: 3000 });
    assert.deepEqual({ ...c.defaults.model }, {});
    assert.ok(Object.isFrozen(c));
  });

  it('names the source, the key and the closest known key when a key is wrong', () => {
    assert.throws(() => parseRateLimits({ defaults: { key: { rmp: 5 } } }, 'rate limits file /x.yaml'), (err: SwitchboardError) => {
      assert.equal(err.code, 'SB_ERR_CONFIG_INVALID');
      assert.match(err.message, /rate limits file \/x\.yaml/);
      assert.match(err.message, /unknown key 'defaults\.key\.rmp' \(did you mean 'rpm'\?\)/);
      return true;
    });
    assert.throws(() => parseRateLimits({ models: { m: { tpm: -1 } } }, 'f'), /models\.m\.tpm/);
    assert.throws(() => parseRateLimits({ fail_mode: 'sometimes' }, 'f'), /fail_mode/);
  });
});

describe('estimateTokens', () => {
  const cases: [string, unknown, number][] = [
    ['chat: chars/4 + 4 per message + max_tokens', { messages: [{ role: 'user', content: 'x'.repeat(40) }], max_tokens: 100 }, 10 + 4 + 100],
    ['chat without max_tokens reserves the default (256)', { messages: [{ role: 'user', content: 'abcd' }] }, 1 + 4 + 256],
    ['max_completion_tokens wins over max_tokens', { messages: [], max_completion_tokens: 7, max_tokens: 100 }, 7],
    ['n multiplies the completion', { prompt: 'x'.repeat(8), max_tokens: 10, n: 3 }, 2 + 30],
    ['content parts count their text', { messages: [{ role: 'user', content: [{ type: 'text', text: 'x'.repeat(12) }] }], max_tokens: 0 }, 3 + 4 + 0],
    ['embeddings reserve input only', { model: 'e', input: ['x'.repeat(8), 'y'.repeat(8)] }, 4],
    ['token-id prompts count one per id', { prompt: [1, 2, 3, 4, 5], max_tokens: 1 }, 5 + 1],
    ['rerank: query and documents', { query: 'x'.repeat(4), documents: ['y'.repeat(4), { text: 'z'.repeat(4) }] }, 3],
    ['not an object', 'hello', 0],
    ['bad max_tokens falls back to the default', { prompt: '', max_tokens: -5 }, 256],
  ];
  for (const [name, body, want] of cases) {
    it(name, () => assert.equal(estimateTokens(body), want));
  }

  it('takes the default max and chars per token from options', () => {
    assert.equal(estimateTokens({ prompt: 'x'.repeat(9) }, { defaultMaxTokens: 10, charsPerToken: 3 }), 13);
    assert.equal(estimatePromptTokens({ input: 'abcdefgh' }, 2), 4);
  });
});

describe('formatResetDuration (OpenAI x-ratelimit-reset-* style)', () => {
  const cases: [number, string][] = [
    [0, '0s'],
    [20, '20ms'],
    [999.2, '1s'],
    [0.4, '1ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [60_000, '1m0s'],
    [360_000, '6m0s'],
    [90_500, '1m30.5s'],
    [3_723_000, '1h2m3s'],
    [Infinity, '0s'],
  ];
  for (const [ms, want] of cases) it(`${ms} ms -> ${want}`, () => assert.equal(formatResetDuration(ms), want));
});
