// Per-model rolling request statistics for the dashboard: requests, errors and tokens per second
// over a short window, latency and TTFT percentiles over a longer one, and a per-second request
// series for the sparkline. Everything lives in fixed rings of one-second slots indexed by the
// monotonic second, so memory is bounded whatever the traffic and a slot is recycled (not
// reallocated) when its second comes round again. Percentiles come from log-scale histograms
// (8 bins per doubling, so a reported value is within about 4.5% of the true one) rather than from
// kept samples, which would grow with the request rate.
import type { Clock } from '../core/index.js';

/** What one finished request contributes. */
export interface RequestSample {
  status: number;
  latencyMs: number;
  ttftMs: number | undefined;
  promptTokens: number;
  completionTokens: number;
  clientGone: boolean;
}

export interface RollingOptions {
  /** Window for rates (requests/s, error rate, tokens/s). */
  rateWindowS?: number;
  /** Window for latency and TTFT percentiles. */
  percentileWindowS?: number;
  /** Seconds of per-second request counts kept for the sparkline. */
  historyS?: number;
}

export interface Percentiles {
  p50: number;
  p95: number;
  count: number;
}

export interface ModelStats {
  model: string;
  /** Requests per second over the rate window. */
  rps: number;
  /** 5xx answers over the rate window, per second. */
  errors_per_s: number;
  /** Share of requests in the rate window answered 5xx; null with no requests. */
  error_rate: number | null;
  /** Completion (output) tokens per second over the rate window. */
  tokens_per_s: number;
  prompt_tokens_per_s: number;
  /** Over the percentile window; null with no samples. */
  latency_ms: Percentiles | null;
  ttft_ms: Percentiles | null;
  /** Since the router started. */
  totals: { requests: number; errors: number; client_aborts: number; prompt_tokens: number; completion_tokens: number };
  /** Requests in each of the last historyS whole seconds, oldest first. */
  rps_series: number[];
}

// Histogram bins over tenths of a millisecond: bin 0 holds [0, 0.1 ms], bin i holds
// (2^((i-1)/8), 2^(i/8)] tenths; the last bin (about 10 minutes) takes everything above.
const BINS_PER_DOUBLING = 8;
const BINS = 190;

function binOf(ms: number): number {
  const tenths = ms * 10;
  if (!(tenths > 1)) return 0;
  return Math.min(BINS - 1, Math.ceil(Math.log2(tenths) * BINS_PER_DOUBLING));
}

/** The geometric middle of a bin, in ms. */
function binValue(i: number): number {
  if (i === 0) return 0.05;
  return 2 ** ((i - 0.5) / BINS_PER_DOUBLING) / 10;
}

function quantile(hist: Float64Array, count: number, q: number): number {
  const rank = Math.max(1, Math.ceil(q * count));
  let seen = 0;
  for (let i = 0; i < BINS; i++) {
    seen += hist[i]!;
    if (seen >= rank) return binValue(i);
  }
  return binValue(BINS - 1);
}

class ModelRing {
  // counts, one slot per second of history
  readonly sec: Float64Array;
  readonly requests: Float64Array;
  readonly errors: Float64Array;
  readonly prompt: Float64Array;
  readonly completion: Float64Array;
  // histograms, one slot per second of the percentile window, allocated on first use
  readonly hsec: Float64Array;
  readonly latency: (Uint32Array | undefined)[];
  readonly ttft: (Uint32Array | undefined)[];
  lastSec = -1;
  totals = { requests: 0, errors: 0, client_aborts: 0, prompt_tokens: 0, completion_tokens: 0 };

  constructor(history: number, pctWindow: number) {
    this.sec = new Float64Array(history).fill(-1);
    this.requests = new Float64Array(history);
    this.errors = new Float64Array(history);
    this.prompt = new Float64Array(history);
    this.completion = new Float64Array(history);
    this.hsec = new Float64Array(pctWindow).fill(-1);
    this.latency = new Array<Uint32Array | undefined>(pctWindow).fill(undefined);
    this.ttft = new Array<Uint32Array | undefined>(pctWindow).fill(undefined);
  }
}

export class RollingStats {
  readonly rateWindowS: number;
  readonly percentileWindowS: number;
  readonly historyS: number;
  readonly #models = new Map<string, ModelRing>();
  readonly #startMono: number;

  constructor(
    private readonly clock: Clock,
    opts: RollingOptions = {},
  ) {
    this.rateWindowS = opts.rateWindowS ?? 10;
    this.percentileWindowS = opts.percentileWindowS ?? 60;
    this.historyS = Math.max(opts.historyS ?? 300, this.rateWindowS);
    this.#startMono = clock.monotonic();
  }

  /** Called on the request path: a few array writes, no allocation once a model's slots exist. */
  record(model: string, s: RequestSample): void {
    let ring = this.#models.get(model);
    if (!ring) {
      ring = new ModelRing(this.historyS, this.percentileWindowS);
      this.#models.set(model, ring);
    }
    const sec = Math.floor(this.clock.monotonic() / 1000);
    const i = sec % this.historyS;
    if (ring.sec[i] !== sec) {
      ring.sec[i] = sec;
      ring.requests[i] = 0;
      ring.errors[i] = 0;
      ring.prompt[i] = 0;
      ring.completion[i] = 0;
    }
    ring.lastSec = sec;
    // a request the client abandoned is not the fleet's error
    const error = !s.clientGone && (s.status >= 500 || s.status === 0);
    ring.requests[i]!++;
    ring.totals.requests++;
    if (error) {
      ring.errors[i]!++;
      ring.totals.errors++;
    }
    if (s.clientGone) ring.totals.client_aborts++;
    ring.prompt[i]! += s.promptTokens;
    ring.completion[i]! += s.completionTokens;
    ring.totals.prompt_tokens += s.promptTokens;
    ring.totals.completion_tokens += s.completionTokens;
    if (s.clientGone) return;
    const h = sec % this.percentileWindowS;
    let lat = ring.latency[h];
    let ttft = ring.ttft[h];
    if (ring.hsec[h] !== sec) {
      ring.hsec[h] = sec;
      lat?.fill(0);
      ttft?.fill(0);
    }
    lat ??= ring.latency[h] = new Uint32Array(BINS);
    lat[binOf(s.latencyMs)]!++;
    if (s.ttftMs !== undefined) {
      ttft ??= ring.ttft[h] = new Uint32Array(BINS);
      ttft[binOf(s.ttftMs)]!++;
    }
  }

  /** Models seen so far (including idle ones not yet pruned). */
  models(): string[] {
    return [...this.#models.keys()];
  }

  /**
   * Statistics for every model seen, plus zero rows for `include` (models served but idle).
   * Models idle for the whole history and not in `include` are forgotten.
   */
  snapshot(include: Iterable<string> = []): ModelStats[] {
    const nowMono = this.clock.monotonic();
    const sec = Math.floor(nowMono / 1000);
    const keep = new Set(include);
    for (const [m, ring] of this.#models) if (!keep.has(m) && ring.lastSec <= sec - this.historyS) this.#models.delete(m);
    for (const m of this.#models.keys()) keep.add(m);
    // the rate window is the current (partial) second plus the whole ones before it, but never
    // more time than the stats have existed, so rates are right from the first second
    const spanS = Math.max(1, Math.min(this.rateWindowS - 1 + (nowMono - sec * 1000) / 1000, (nowMono - this.#startMono) / 1000));
    const out: ModelStats[] = [];
    for (const model of [...keep].sort()) out.push(this.#modelStats(model, this.#models.get(model), sec, spanS));
    return out;
  }

  #modelStats(model: string, ring: ModelRing | undefined, sec: number, spanS: number): ModelStats {
    const series = new Array<number>(this.historyS).fill(0);
    if (!ring) {
      return { model, rps: 0, errors_per_s: 0, error_rate: null, tokens_per_s: 0, prompt_tokens_per_s: 0, latency_ms: null, ttft_ms: null, totals: { requests: 0, errors: 0, client_aborts: 0, prompt_tokens: 0, completion_tokens: 0 }, rps_series: series };
    }
    let req = 0;
    let err = 0;
    let prompt = 0;
    let completion = 0;
    for (let s = sec - this.rateWindowS + 1; s <= sec; s++) {
      const i = s % this.historyS;
      if (s < 0 || ring.sec[i] !== s) continue;
      req += ring.requests[i]!;
      err += ring.errors[i]!;
      prompt += ring.prompt[i]!;
      completion += ring.completion[i]!;
    }
    // whole seconds only: the current one is still filling
    for (let k = 0; k < this.historyS; k++) {
      const s = sec - this.historyS + k;
      const i = s % this.historyS;
      if (s >= 0 && ring.sec[i] === s) series[k] = ring.requests[i]!;
    }
    const lat = new Float64Array(BINS);
    const ttft = new Float64Array(BINS);
    let latN = 0;
    let ttftN = 0;
    for (let s = sec - this.percentileWindowS + 1; s <= sec; s++) {
      const h = s % this.percentileWindowS;
      if (s < 0 || ring.hsec[h] !== s) continue;
      const l = ring.latency[h];
      const t = ring.ttft[h];
      if (l) latN += addInto(lat, l);
      if (t) ttftN += addInto(ttft, t);
    }
    const pct = (h: Float64Array, n: number): Percentiles | null => (n === 0 ? null : { p50: round(quantile(h, n, 0.5)), p95: round(quantile(h, n, 0.95)), count: n });
    return {
      model,
      rps: round(req / spanS),
      errors_per_s: round(err / spanS),
      error_rate: req === 0 ? null : round(err / req),
      tokens_per_s: round(completion / spanS),
      prompt_tokens_per_s: round(prompt / spanS),
      latency_ms: pct(lat, latN),
      ttft_ms: pct(ttft, ttftN),
      totals: { ...ring.totals },
      rps_series: series,
    };
  }
}

/** Adds a slot's histogram into the merged one; returns the slot's count. */
function addInto(into: Float64Array, from: Uint32Array): number {
  let n = 0;
  for (let b = 0; b < BINS; b++) {
    const c = from[b]!;
    if (c !== 0) {
      into[b]! += c;
      n += c;
    }
  }
  return n;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
