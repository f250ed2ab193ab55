// The engine model: continuous batching as vLLM does it, as an event-driven simulation on an
// injected Clock (ManualClock in tests: queueing, batching and TTFT are checked without sleeping).
//
// One engine step at a time, one timer per step for the whole batch (never one per request):
//   1. admit waiting sequences in FIFO order while a slot is free (maxNumSeqs) and the KV cache
//      can hold the head's reservation (prompt + max_tokens); a head that does not fit blocks
//      the queue, as vLLM's FCFS scheduler does. Admission looks the prompt up in the prefix
//      cache: cached leading blocks are not prefilled.
//   2. plan the batch within maxNumBatchedTokens: every decoding sequence takes 1 token, then
//      prefills take chunks of what is left (chunked prefill), oldest first.
//   3. the step lasts decodeMs * (1 + batchPenalty * (n - 1)) + prefilled / prefillTokensPerS,
//      n = sequences in the batch; at its end each decoding sequence gets one token and a
//      sequence whose prefill completed gets its first token (or finishes: embeddings, rerank).
// Steps shorter than a timer's 1 ms (decodeMs 0) run inline, a bounded number per timer tick,
// so a sim for benchmarks spends its time on HTTP, not on timers.
import type { Clock, TimerHandle } from '../core/index.js';
import { blockKeys } from './hash.js';
import { PrefixCache } from './prefix-cache.js';
import { Seq, type Sequence, type SequenceEvents, type SequenceSpec } from './sequence.js';

export type { Sequence, SequenceEvents, SequenceSpec, SequenceState } from './sequence.js';

export interface SchedulerHooks {
  readonly onAdmit?: (seq: Sequence) => void;
  readonly onFirstToken?: (seq: Sequence) => void;
  readonly onFinish?: (seq: Sequence) => void;
}

export interface SchedulerOptions {
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  prefillTokensPerS: number;
  decodeMs: number;
  batchPenalty: number;
  kvCacheTokens: number;
  blockSizeTokens: number;
  prefixCaching: boolean;
  prefixCacheBlocks: number;
  clock: Clock;
  hooks?: SchedulerHooks;
  /** A callback threw: reported here, never allowed to stop the engine loop. */
  onError?: (err: unknown) => void;
}

export interface SchedulerStats {
  running: number;
  waiting: number;
  kvUsedTokens: number;
  kvCapacityTokens: number;
  /** kvUsedTokens / kvCapacityTokens, 0..1 (vllm:kv_cache_usage_perc). */
  kvUsage: number;
  promptTokens: number;
  generationTokens: number;
  prefixQueries: number;
  prefixHits: number;
  steps: number;
}

/** Zero-duration steps run back to back in one tick, at most this many before yielding. */
const MAX_INLINE_STEPS = 64;
/** Steps due sooner than this run inline (a timer cannot wait less than 1 ms anyway). */
const MIN_TIMER_MS = 1;
/** A timer later than this behind schedule restarts the step clock instead of catching up. */
const MAX_CATCH_UP_MS = 50;

export class Scheduler {
  readonly #o: SchedulerOptions;
  readonly #clock: Clock;
  readonly #cache: PrefixCache;
  #waiting: Seq[] = [];
  #waitHead = 0;
  #waitingCount = 0;
  #running: Seq[] = [];
  #runningCount = 0;
  #runningDirty = false;
  #kvUsed = 0;
  readonly #freeSlots: number[] = [];
  #batch: Seq[] = [];
  #timer: TimerHandle | undefined;
  #cycling = false;
  #lastEnd: number | undefined;
  #closed = false;
  #nextId = 1;
  #promptTokens = 0;
  #generationTokens = 0;
  #prefixQueries = 0;
  #prefixHits = 0;
  #steps = 0;

  constructor(opts: SchedulerOptions) {
    this.#o = opts;
    this.#clock = opts.clock;
    this.#cache = new PrefixCache(opts.prefixCacheBlocks);
    for (let i = opts.maxNumSeqs - 1; i >= 0; i--) this.#freeSlots.push(i);
  }

  /** Whether a request of this many tokens can ever be admitted (else reject it up front). */
  fits(promptTokens: number, maxTokens: number): boolean {
    return promptTokens + maxTokens <= this.#o.kvCacheTokens;
  }

  /** Queues a sequence. Events fire later, from the engine loop (never inside submit). */
  submit(spec: SequenceSpec, events: SequenceEvents): Sequence {
    if (this.#closed) throw new Error('scheduler closed');
    if (!this.fits(spec.promptTokens.length, spec.maxTokens)) throw new RangeError('sequence larger than the KV cache');
    const seq = new Seq(this.#nextId++, spec, events, spec.arrivedAt ?? this.#clock.monotonic());
    this.#waiting.push(seq);
    this.#waitingCount++;
    this.#kick();
    return seq;
  }

  /** Cancels a sequence (client gone): its slot and KV are free at once. False if already over. */
  abort(sequence: Sequence): boolean {
    const seq = sequence as Seq;
    if (seq.state === 'waiting') {
      seq.state = 'aborted';
      this.#waitingCount--;
      return true;
    }
    if (seq.state === 'running' || seq.state === 'stalled') {
      seq.state = 'aborted';
      this.#release(seq);
      this.#kick();
      return true;
    }
    return false;
  }

  stats(): SchedulerStats {
    return {
      running: this.#runningCount,
      waiting: this.#waitingCount,
      kvUsedTokens: this.#kvUsed,
      kvCapacityTokens: this.#o.kvCacheTokens,
      kvUsage: this.#kvUsed / this.#o.kvCacheTokens,
      promptTokens: this.#promptTokens,
      generationTokens: this.#generationTokens,
      prefixQueries: this.#prefixQueries,
      prefixHits: this.#prefixHits,
      steps: this.#steps,
    };
  }

  /** The sequence in each slot (undefined = idle), for llama.cpp's /slots. */
  slots(): (Sequence | undefined)[] {
    const out: (Sequence | undefined)[] = new Array<Sequence | undefined>(this.#o.maxNumSeqs).fill(undefined);
    for (const s of this.#running) if (s.slot >= 0 && (s.state === 'running' || s.state === 'stalled')) out[s.slot] = s;
    return out;
  }

  /** Stops the loop; queued and running sequences are dropped without events. */
  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    for (const s of this.#running) if (s.state === 'running' || s.state === 'stalled') s.state = 'aborted';
    for (let i = this.#waitHead; i < this.#waiting.length; i++) if (this.#waiting[i]!.state === 'waiting') this.#waiting[i]!.state = 'aborted';
    this.#running = [];
    this.#waiting = [];
    this.#waitHead = 0;
    this.#waitingCount = 0;
    this.#runningCount = 0;
    this.#kvUsed = 0;
    this.#batch = [];
  }

  // ------------------------------------------------------------------ loop

  #kick(): void {
    if (this.#timer || this.#cycling || this.#closed) return;
    this.#timer = this.#clock.setTimeout(this.#onTimer, 0);
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#cycling = true;
    try {
      this.#cycle();
    } finally {
      this.#cycling = false;
    }
  };

  #cycle(): void {
    let inline = 0;
    for (;;) {
      if (this.#batch.length > 0) this.#complete();
      if (this.#closed) return;
      const ms = this.#plan();
      if (ms === undefined) {
        this.#lastEnd = undefined;
        return;
      }
      // steps are laid end to end on the model's own timeline (a late timer is caught up, a
      // sub-millisecond step runs inline and its time carries over to the next timer), so the
      // token rate stays what the model says even though timers have 1 ms granularity
      const now = this.#clock.monotonic();
      let start = this.#lastEnd ?? now;
      if (now - start > MAX_CATCH_UP_MS) start = now;
      this.#lastEnd = start + ms;
      const delay = this.#lastEnd - now;
      if (delay < MIN_TIMER_MS && inline++ < MAX_INLINE_STEPS) continue;
      this.#timer = this.#clock.setTimeout(this.#onTimer, Math.max(0, delay));
      return;
    }
  }

  /** Admits and plans the next step; its duration in ms, or undefined when there is no work. */
  #plan(): number | undefined {
    const o = this.#o;
    if (this.#runningDirty) {
      this.#running = this.#running.filter((s) => s.state === 'running' || s.state === 'stalled');
      this.#runningDirty = false;
    }
    while (this.#waitingCount > 0 && this.#runningCount < o.maxNumSeqs) {
      const head = this.#peekWaiting();
      if (!head || this.#kvUsed + head.kv > o.kvCacheTokens) break;
      this.#waitHead++;
      this.#waitingCount--;
      this.#admit(head);
    }
    this.#compactWaiting();

    let budget = o.maxNumBatchedTokens;
    let prefill = 0;
    const batch = this.#batch;
    for (const s of this.#running) {
      if (s.state === 'running' && s.prefillLeft === 0) {
        s.chunk = 0;
        batch.push(s);
        budget--;
      }
    }
    for (const s of this.#running) {
      if (budget <= 0) break;
      if (s.state === 'running' && s.prefillLeft > 0) {
        s.chunk = Math.min(s.prefillLeft, budget);
        budget -= s.chunk;
        prefill += s.chunk;
        batch.push(s);
      }
    }
    if (batch.length === 0) return undefined;
    this.#steps++;
    return o.decodeMs * (1 + o.batchPenalty * (batch.length - 1)) + (prefill * 1000) / o.prefillTokensPerS;
  }

  #peekWaiting(): Seq | undefined {
    while (this.#waitHead < this.#waiting.length) {
      const s = this.#waiting[this.#waitHead]!;
      if (s.state === 'waiting') return s;
      this.#waitHead++;
    }
    return undefined;
  }

  #compactWaiting(): void {
    if (this.#waitHead > 1024 && this.#waitHead * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#waitHead);
      this.#waitHead = 0;
    }
  }

  #admit(s: Seq): void {
    const o = this.#o;
    s.state = 'running';
    s.slot = this.#freeSlots.pop() ?? -1;
    s.admittedAt = this.#clock.monotonic();
    this.#runningCount++;
    this.#kvUsed += s.kv;
    this.#running.push(s);
    let cached = 0;
    if (o.prefixCaching && s.spec.cacheScope !== undefined) {
      s.keys = blockKeys(s.spec.promptTokens, o.blockSizeTokens, s.spec.cacheScope);
      // like vLLM, the last prompt token is always computed: it yields the first output token
      cached = Math.min(this.#cache.match(s.keys) * o.blockSizeTokens, Math.max(0, s.promptLength - 1));
      this.#prefixQueries += s.promptLength;
      this.#prefixHits += cached;
    }
    s.cachedTokens = cached;
    s.prefillLeft = Math.max(1, s.promptLength - cached);
    this.#hook('onAdmit', s);
  }

  /** Ends the planned step: prefill progress, one token per decoding sequence, finishes. */
  #complete(): void {
    const batch = this.#batch;
    this.#batch = [];
    for (const s of batch) {
      if (s.state !== 'running') continue; // aborted during the step
      if (s.chunk > 0) {
        s.prefillLeft -= s.chunk;
        s.chunk = 0;
        if (s.prefillLeft > 0) continue;
        if (s.keys) this.#cache.insert(s.keys);
        s.keys = undefined;
        this.#promptTokens += s.promptLength;
        if (s.maxTokens === 0 || s.spec.outputTokens === 0) {
          this.#finish(s);
          continue;
        }
        if (this.#stallsNow(s)) continue;
      }
      s.generated++;
      this.#generationTokens++;
      if (s.generated === 1) {
        s.firstTokenAt = this.#clock.monotonic();
        this.#hook('onFirstToken', s);
      }
      const last = s.generated >= s.spec.outputTokens;
      if (last) {
        s.state = 'done';
        this.#release(s);
      } else {
        this.#stallsNow(s);
      }
      this.#emitToken(s);
      if (last) this.#finish(s);
    }
  }

  #stallsNow(s: Seq): boolean {
    const n = s.spec.stallAfterTokens;
    if (n === undefined || n === null || s.generated < n) return false;
    s.state = 'stalled';
    return true;
  }

  #emitToken(s: Seq): void {
    const onToken = s.events.onToken;
    if (!onToken) return;
    try {
      onToken(s.generated);
    } catch (err) {
      this.#o.onError?.(err);
    }
  }

  #finish(s: Seq): void {
    if (s.state !== 'done') {
      s.state = 'done';
      this.#release(s);
    }
    s.finishedAt = this.#clock.monotonic();
    this.#hook('onFinish', s);
    try {
      s.events.onDone();
    } catch (err) {
      this.#o.onError?.(err);
    }
  }

  #release(s: Seq): void {
    this.#runningCount--;
    this.#kvUsed -= s.kv;
    if (s.slot >= 0) this.#freeSlots.push(s.slot);
    s.slot = -1;
    this.#runningDirty = true;
  }

  #hook(name: keyof SchedulerHooks, s: Seq): void {
    try {
      this.#o.hooks?.[name]?.(s);
    } catch (err) {
      this.#o.onError?.(err);
    }
  }
}
