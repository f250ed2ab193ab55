import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/index.js';
import { Scheduler, type SchedulerOptions, type Sequence, type SequenceSpec } from '../../src/engine/scheduler.js';

// 1 prompt token per ms of prefill and 10 ms per decode step make the expected times easy to read.
function setup(over: Partial<SchedulerOptions> = {}): { clock: ManualClock; s: Scheduler } {
  const clock = new ManualClock();
  const s = new Scheduler({
    maxNumSeqs: 4,
    maxNumBatchedTokens: 1000,
    prefillTokensPerS: 1000,
    decodeMs: 10,
    batchPenalty: 0,
    kvCacheTokens: 100_000,
    blockSizeTokens: 4,
    prefixCaching: true,
    prefixCacheBlocks: 1000,
    clock,
    onError: (err) => {
      throw err;
    },
    ...over,
  });
  return { clock, s };
}

function prompt(n: number, salt = 0): number[] {
  return Array.from({ length: n }, (_, i) => i + 1 + salt * 1_000_000);
}

interface Tracked {
  seq: Sequence;
  tokens: number[];
  done: number | undefined;
}

function track(clock: ManualClock, s: Scheduler, spec: Partial<SequenceSpec> & { promptTokens: number[] }): Tracked {
  const t: Tracked = { seq: undefined as unknown as Sequence, tokens: [], done: undefined };
  const full: SequenceSpec = { maxTokens: 5, outputTokens: spec.maxTokens ?? 5, cacheScope: 1, ...spec };
  t.seq = s.submit(full, { onToken: () => t.tokens.push(clock.monotonic()), onDone: () => (t.done = clock.monotonic()) });
  return t;
}

const ttft = (t: Tracked): number => t.seq.firstTokenAt! - t.seq.arrivedAt;

describe('scheduler (ManualClock)', () => {
  it('never runs more than maxNumSeqs sequences; the rest wait in FIFO order', async () => {
    const { clock, s } = setup({ maxNumSeqs: 2 });
    const a = track(clock, s, { promptTokens: prompt(10, 1) });
    const b = track(clock, s, { promptTokens: prompt(10, 2) });
    const c = track(clock, s, { promptTokens: prompt(10, 3) });
    const d = track(clock, s, { promptTokens: prompt(10, 4) });
    assert.equal(s.stats().waiting, 4, 'nothing runs inside submit');
    await clock.advance(0);
    assert.deepEqual([s.stats().running, s.stats().waiting], [2, 2]);
    assert.deepEqual([a.seq.state, b.seq.state, c.seq.state, d.seq.state], ['running', 'running', 'waiting', 'waiting']);
    await clock.advance(1000);
    for (const t of [a, b, c, d]) assert.equal(t.tokens.length, 5);
    assert.ok(a.done! <= b.done! && b.done! < c.done! && c.done! <= d.done!, 'finished in arrival order');
    assert.ok(c.seq.admittedAt! >= a.done!, 'c was admitted only when a slot freed');
  });

  it('time to first token grows with the queue ahead of a request', async () => {
    const { clock, s } = setup({ maxNumSeqs: 1 });
    const ts = [1, 2, 3].map((salt) => track(clock, s, { promptTokens: prompt(10, salt) }));
    await clock.advance(1000);
    // each: prefill 10 tokens (10 ms) + a 10 ms step -> first token, then 4 more steps of 10 ms
    assert.deepEqual(ts.map(ttft), [20, 80, 140]);
    assert.deepEqual(ts[0]!.tokens, [20, 30, 40, 50, 60]);
  });

  it('a decode step slows down as the running batch grows', async () => {
    const { clock, s } = setup({ batchPenalty: 0.5 });
    const alone = track(clock, s, { promptTokens: prompt(1, 1), maxTokens: 3 });
    await clock.advance(1000);
    const gapsAlone = alone.tokens.slice(1).map((x, i) => x - alone.tokens[i]!);
    assert.deepEqual(gapsAlone, [10, 10]);
    const batch = [2, 3, 4].map((salt) => track(clock, s, { promptTokens: prompt(1, salt), maxTokens: 3 }));
    await clock.advance(1000);
    const gaps = batch[0]!.tokens.slice(1).map((x, i) => x - batch[0]!.tokens[i]!);
    // three sequences per step: 10 * (1 + 0.5 * 2) = 20 ms
    assert.deepEqual(gaps, [20, 20]);
  });

  it('a request that does not fit the KV cache waits, and blocks those behind it (FCFS)', async () => {
    const { clock, s } = setup({ kvCacheTokens: 100 });
    const a = track(clock, s, { promptTokens: prompt(40, 1), maxTokens: 40 });
    await clock.advance(0);
    assert.equal(s.stats().kvUsage, 0.8);
    const b = track(clock, s, { promptTokens: prompt(20, 2), maxTokens: 10 });
    const c = track(clock, s, { promptTokens: prompt(2, 3), maxTokens: 2 });
    await clock.advance(100);
    assert.equal(b.seq.state, 'waiting', 'a slot is free but the KV cache is not');
    assert.equal(c.seq.state, 'waiting', 'a small request does not jump the queue');
    assert.deepEqual([s.stats().running, s.stats().waiting], [1, 2]);
    await clock.advance(1000);
    assert.ok(b.seq.admittedAt! >= a.done!);
    assert.equal(c.tokens.length, 2);
    assert.equal(s.stats().kvUsedTokens, 0);
  });

  it('a prefix-cache hit skips that part of the prefill and counts the hit tokens', async () => {
    const { clock, s } = setup();
    const first = track(clock, s, { promptTokens: prompt(40, 1) });
    await clock.advance(1000);
    assert.equal(first.seq.cachedTokens, 0);
    assert.equal(ttft(first), 40 + 10);
    const again = track(clock, s, { promptTokens: prompt(40, 1) });
    await clock.advance(1000);
    // every block is cached, but the last prompt token is always computed (as in vLLM)
    assert.equal(again.seq.cachedTokens, 39);
    assert.equal(ttft(again), 1 + 10);
    const shared = track(clock, s, { promptTokens: [...prompt(8, 1), ...prompt(32, 9)] });
    await clock.advance(1000);
    assert.equal(shared.seq.cachedTokens, 8, 'two 4-token blocks in common');
    const otherModel = track(clock, s, { promptTokens: prompt(40, 1), cacheScope: 2 });
    await clock.advance(1000);
    assert.equal(otherModel.seq.cachedTokens, 0, 'another model never shares blocks');
    const st = s.stats();
    assert.equal(st.prefixQueries, 160);
    assert.equal(st.prefixHits, 39 + 8);
  });

  it('chunks a long prefill over several steps within the token budget', async () => {
    const { clock, s } = setup({ maxNumBatchedTokens: 8, prefixCaching: false });
    const t = track(clock, s, { promptTokens: prompt(20, 1), maxTokens: 1 });
    await clock.advance(1000);
    // 8 + 8 + 4 tokens: three steps of 10 ms plus 8, 8 and 4 ms of prefill
    assert.equal(ttft(t), 30 + 20);
    assert.equal(s.stats().steps, 3);
  });

  it('an abort frees the slot and the KV at once, and the next request runs', async () => {
    const { clock, s } = setup({ maxNumSeqs: 1 });
    const a = track(clock, s, { promptTokens: prompt(10, 1), maxTokens: 50 });
    const b = track(clock, s, { promptTokens: prompt(10, 2) });
    await clock.advance(30);
    assert.equal(a.seq.state, 'running');
    assert.ok(s.abort(a.seq));
    assert.deepEqual([s.stats().running, s.stats().kvUsedTokens], [0, 0]);
    assert.equal(s.abort(a.seq), false, 'a second abort is a no-op');
    await clock.advance(1000);
    assert.equal(b.tokens.length, 5);
    assert.equal(a.done, undefined, 'an aborted sequence gets no done event');
  });

  it('a stalled sequence keeps its slot without progress until it is aborted', async () => {
    const { clock, s } = setup({ maxNumSeqs: 1 });
    const a = track(clock, s, { promptTokens: prompt(4, 1), maxTokens: 10, stallAfterTokens: 2 });
    const b = track(clock, s, { promptTokens: prompt(4, 2) });
    await clock.advance(10_000);
    assert.equal(a.tokens.length, 2);
    assert.equal(a.seq.state, 'stalled');
    assert.equal(b.seq.state, 'waiting');
    assert.equal(s.slots().filter(Boolean).length, 1);
    s.abort(a.seq);
    await clock.advance(1000);
    assert.equal(b.tokens.length, 5);
  });

  it('prefill-only sequences (embeddings) finish without tokens', async () => {
    const { clock, s } = setup();
    const t = track(clock, s, { promptTokens: prompt(30, 1), maxTokens: 0, outputTokens: 0, cacheScope: undefined });
    await clock.advance(1000);
    assert.deepEqual(t.tokens, []);
    assert.equal(t.done, 30 + 10);
    assert.equal(s.stats().prefixQueries, 0, 'pooling requests do not use the prefix cache');
  });

  it('with decodeMs 0 a whole generation completes within one tick', async () => {
    const { clock, s } = setup({ decodeMs: 0, prefillTokensPerS: 1e12 });
    const t = track(clock, s, { promptTokens: prompt(10, 1), maxTokens: 20 });
    await clock.advance(0);
    assert.equal(t.tokens.length, 20);
    assert.equal(clock.pendingTimers(), 0, 'no timer left behind when idle');
  });

  it('refuses a sequence larger than the KV cache', () => {
    const { s } = setup({ kvCacheTokens: 10 });
    assert.equal(s.fits(5, 6), false);
    assert.throws(() => s.submit({ promptTokens: prompt(5), maxTokens: 6, outputTokens: 6 }, { onDone: () => undefined }), RangeError);
  });
});
