// The rate-limit policy on the request path. A request takes one token from each requests
// bucket and reserves its estimated tokens (prompt + max_tokens) from each tokens bucket, for
// its API key and for its model, all or nothing: if any bucket says no, the takes that
// succeeded are given back before the answer. When the response ends, settle() gives back the
// unused part of the reservation (or charges the excess), so a burst cannot overrun a limit and
// unused reservations are not lost. When the store fails, requests are admitted without limits
// (fail open, the default) or refused with 503 (fail closed); the change is logged once.
import { describeError, sbError, sbErrorFrom, silentLogger, type Logger, type SwitchboardError } from '../../core/index.js';
import type { Limits, RateLimitsConfig } from './config.js';
import { rateLimitHeaders, rateLimitLines, type BucketReading } from './headers.js';
import type { BucketSpec, RateLimitStore, TakeResult } from './store.js';

export type LimitScope = 'key' | 'model';
export type LimitKind = 'requests' | 'tokens';
export type StoreState = 'ok' | 'degraded';

export interface AdmitRequest {
  /** The API key's name (never the key); undefined when keys are off: no per-key limits. */
  keyName?: string;
  /** The key's own limits (keys file); each unset one falls back to the policy. */
  keyLimits?: { readonly rpm?: number; readonly tpm?: number };
  /** The model as the client asked for it. */
  model: string;
  /** Tokens to reserve: estimateTokens(body). */
  estimatedTokens: number;
}

export interface AllowedAdmission {
  readonly allowed: true;
  /** x-ratelimit-* headers for the response (empty when nothing limits this request). */
  readonly headers: Readonly<Record<string, string>>;
  /** The same headers as lines, "name: value\r\n" each ('' when nothing limits this request). */
  readonly lines: string;
  /** True when admitted without limits because the store is unreachable (fail open). */
  readonly degraded: boolean;
  /**
   * Once, when the response has ended (streams included): gives back reserved-minus-used tokens,
   * or charges the excess. Never rejects; later calls do nothing.
   */
  settle(actualTokens: number): Promise<void>;
}

export interface RateLimitedAdmission {
  readonly allowed: false;
  readonly reason: 'limited';
  readonly scope: LimitScope;
  readonly limit: LimitKind;
  /** Whole seconds, at least 1 (the Retry-After header). */
  readonly retryAfterSeconds: number;
  /** retry-after, retry-after-ms and x-ratelimit-* for the 429 response. */
  readonly headers: Readonly<Record<string, string>>;
  /** SB_ERR_RATE_LIMITED (429, rate_limit_error) for the OpenAI envelope. */
  error(): SwitchboardError;
}

export interface UnavailableAdmission {
  readonly allowed: false;
  readonly reason: 'unavailable';
  readonly retryAfterSeconds: number;
  readonly headers: Readonly<Record<string, string>>;
  /** SB_ERR_RATE_LIMIT_UNAVAILABLE (503), with the store's error as cause. */
  error(): SwitchboardError;
}

export type Admission = AllowedAdmission | RateLimitedAdmission | UnavailableAdmission;

export interface RateLimiterCounters {
  admitted: number;
  /** Requests refused with 429, by which bucket refused them. */
  limited: Record<`${LimitScope}_${LimitKind}`, number>;
  /** Admitted without limits because the store failed (fail open). */
  failOpen: number;
  /** Refused with 503 because the store failed (fail closed). */
  failClosed: number;
  storeErrors: number;
  settleErrors: number;
}

export interface RateLimiterOptions {
  config: RateLimitsConfig;
  store: RateLimitStore;
  logger?: Logger;
  /** Called on each ok <-> degraded transition (e.g. to set router_rate_limit_store_up). */
  onStateChange?: (state: StoreState) => void;
}

/** One bucket a request is checked against; the same objects serve every request of a key and model. */
interface Check {
  readonly scope: LimitScope;
  readonly kind: LimitKind;
  readonly bucket: string;
  readonly spec: BucketSpec;
}

/** The checks of one (key, model) pair, built once and kept until the policy changes. */
interface Plan {
  /** The key's own limits the plan was built with (a reloaded keys file brings new objects). */
  readonly keyLimits: AdmitRequest['keyLimits'];
  readonly checks: readonly Check[];
  /** The tokens checks: what settle() gives back to. */
  readonly reserved: readonly Check[];
}

// plans are per key name and served model, both bounded; a reload of the keys file can leave
// names behind, so the cache is dropped whole past this size
const MAX_PLANS = 10_000;

/** A request takes one from a requests bucket; a tokens bucket reserves the estimate (capped at the bucket). */
function costOf(c: Check, tokens: number): number {
  // a reservation larger than the whole per-minute budget waits for a full bucket and takes
  // all of it (settle charges the rest if it was really used) rather than never running
  return c.kind === 'requests' ? 1 : Math.min(tokens, c.spec.capacity);
}

/** The i-th bucket's reading for the headers; undefined for -1 (no bucket of that kind). */
function readingOf(checks: readonly Check[], results: readonly TakeResult[], i: number): BucketReading | undefined {
  return i < 0 ? undefined : { limit: checks[i]!.spec.capacity, remaining: results[i]!.remaining, resetMs: results[i]!.resetMs };
}

/** Whole tokens a request reserves. */
function tokensOf(req: AdmitRequest): number {
  return Math.max(0, Math.ceil(req.estimatedTokens));
}

/** What a settle that had nothing to wait for returns (one promise for all of them). */
const SETTLED: Promise<void> = Promise.resolve();
const NOOP_SETTLE = (): Promise<void> => SETTLED;
const EMPTY_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const UNLIMITED: AllowedAdmission = Object.freeze({ allowed: true as const, headers: EMPTY_HEADERS, lines: '', degraded: false, settle: NOOP_SETTLE });
const FAIL_OPEN: AllowedAdmission = Object.freeze({ allowed: true as const, headers: EMPTY_HEADERS, lines: '', degraded: true, settle: NOOP_SETTLE });

/**
 * An admitted request with limits: its header lines made at once (the request path writes them),
 * the header object only when asked (tests, node:http responses), and the reservation it settles.
 */
class Allowed implements AllowedAdmission {
  readonly allowed = true as const;
  readonly degraded = false;
  readonly lines: string;
  #headers: Record<string, string> | undefined;
  #done = false;

  constructor(
    private readonly store: RateLimitStore,
    private readonly counters: RateLimiterCounters,
    /** The tokens checks, given back to on settle. */
    private readonly reserved: readonly Check[],
    private readonly reservedTokens: number,
    private readonly requests: BucketReading | undefined,
    private readonly tokens: BucketReading | undefined,
  ) {
    this.lines = rateLimitLines(requests, tokens);
  }

  get headers(): Readonly<Record<string, string>> {
    return (this.#headers ??= rateLimitHeaders(this.requests, this.tokens));
  }

  settle(actualTokens: number): Promise<void> {
    if (this.#done || this.reserved.length === 0) return SETTLED;
    this.#done = true;
    const used = Number.isFinite(actualTokens) ? Math.max(0, Math.ceil(actualTokens)) : 0;
    const { store, reserved, reservedTokens } = this;
    // the in-process store answers on the spot: no promise made, none awaited (this runs at the
    // end of every request)
    let gives: Promise<void>[] | undefined;
    for (const c of reserved) {
      const back = costOf(c, reservedTokens) - used;
      if (back === 0) continue;
      if (store.giveNow) store.giveNow(c.bucket, back, c.spec);
      else (gives ??= []).push(store.give(c.bucket, back, c.spec));
    }
    return gives ? this.#counted(gives) : SETTLED;
  }

  /** Waits for the store's gives, counting the ones that failed. */
  async #counted(gives: Promise<void>[]): Promise<void> {
    for (const r of await Promise.allSettled(gives)) if (r.status === 'rejected') this.counters.settleErrors++;
  }
}

export class RateLimiter {
  #config: RateLimitsConfig;
  readonly #store: RateLimitStore;
  readonly #log: Logger;
  readonly #onStateChange: ((state: StoreState) => void) | undefined;
  readonly #specs = new Map<number, BucketSpec>();
  /** keyName ('' when keys are off) -> model -> plan. */
  readonly #plans = new Map<string, Map<string, Plan>>();
  #planCount = 0;
  #state: StoreState = 'ok';
  readonly #counters: RateLimiterCounters = {
    admitted: 0,
    limited: { key_requests: 0, key_tokens: 0, model_requests: 0, model_tokens: 0 },
    failOpen: 0,
    failClosed: 0,
    storeErrors: 0,
    settleErrors: 0,
  };

  constructor(opts: RateLimiterOptions) {
    this.#config = opts.config;
    this.#store = opts.store;
    this.#log = opts.logger ?? silentLogger;
    this.#onStateChange = opts.onStateChange;
  }

  get config(): RateLimitsConfig {
    return this.#config;
  }

  get store(): RateLimitStore {
    return this.#store;
  }

  /** Swaps in a reloaded policy; buckets keep their levels and take the new sizes at once. */
  update(config: RateLimitsConfig): void {
    this.#config = config;
    this.#plans.clear();
    this.#planCount = 0;
  }

  /** "degraded" while the store is failing (requests are then admitted or refused per fail_mode). */
  state(): StoreState {
    return this.#state;
  }

  counters(): RateLimiterCounters {
    return { ...this.#counters, limited: { ...this.#counters.limited } };
  }

  /** Decides one request. Never rejects: store failures become fail-open or fail-closed answers. */
  async admit(req: AdmitRequest): Promise<Admission> {
    const now = this.admitNow(req);
    if (now) return now;
    const plan = this.#plan(req);
    const { checks } = plan;
    if (checks.length === 0) {
      this.#counters.admitted++;
      return UNLIMITED;
    }
    const tokens = tokensOf(req);
    const settled = await Promise.allSettled(checks.map((c) => this.#store.take(c.bucket, costOf(c, tokens), c.spec)));
    let failure: unknown;
    let denied = false;
    for (const s of settled) {
      if (s.status === 'rejected') failure ??= s.reason;
      else if (!s.value.allowed) denied = true;
    }
    if (failure !== undefined || denied) await this.#refund(checks, tokens, settled);
    if (failure !== undefined) return this.#storeFailed(failure);
    this.#setState('ok');
    const results = settled.map((s) => (s as PromiseFulfilledResult<TakeResult>).value);
    if (denied) return this.#denied(req, checks, results);
    this.#counters.admitted++;
    return this.#allowed(plan, tokens, results);
  }

  /**
   * admit() without promises, when the store answers on the spot (the in-process store: no I/O,
   * so no failure to handle); undefined when it cannot, and admit() is the way.
   */
  admitNow(req: AdmitRequest): Admission | undefined {
    const store = this.#store;
    if (!store.takeNow || !store.giveNow) return undefined;
    const plan = this.#plan(req);
    const { checks } = plan;
    if (checks.length === 0) {
      this.#counters.admitted++;
      return UNLIMITED;
    }
    const tokens = tokensOf(req);
    const results: TakeResult[] = [];
    let denied = false;
    for (const c of checks) {
      const r = store.takeNow(c.bucket, costOf(c, tokens), c.spec);
      if (!r.allowed) denied = true;
      results.push(r);
    }
    if (denied) {
      // all or nothing: what the allowed buckets gave goes back
      results.forEach((r, i) => {
        const c = checks[i]!;
        const cost = costOf(c, tokens);
        if (r.allowed && cost > 0) store.giveNow!(c.bucket, cost, c.spec);
      });
      return this.#denied(req, checks, results);
    }
    this.#counters.admitted++;
    return this.#allowed(plan, tokens, results);
  }

  /** Closes the store. */
  close(): Promise<void> {
    return this.#store.close();
  }

  #spec(perMinute: number): BucketSpec {
    let s = this.#specs.get(perMinute);
    if (!s) {
      s = Object.freeze({ capacity: perMinute, refillPerSecond: perMinute / 60 });
      this.#specs.set(perMinute, s);
    }
    return s;
  }

  /** The request's checks: looked up per key and model, built on the first request of the pair. */
  #plan(req: AdmitRequest): Plan {
    let byModel = this.#plans.get(req.keyName ?? '');
    let cached = byModel?.get(req.model);
    if (cached && cached.keyLimits === req.keyLimits) return cached;
    if (this.#planCount >= MAX_PLANS) {
      this.#plans.clear();
      this.#planCount = 0;
      byModel = cached = undefined;
    }
    const checks = this.#checks(req);
    const plan: Plan = { keyLimits: req.keyLimits, checks, reserved: checks.filter((c) => c.kind === 'tokens') };
    if (!byModel) {
      byModel = new Map<string, Plan>();
      this.#plans.set(req.keyName ?? '', byModel);
    }
    if (!cached) this.#planCount++;
    byModel.set(req.model, plan);
    return plan;
  }

  #checks(req: AdmitRequest): Check[] {
    const c = this.#config;
    const checks: Check[] = [];
    const add = (scope: LimitScope, name: string, l: Limits): void => {
      if (l.rpm !== undefined) checks.push({ scope, kind: 'requests', bucket: `${scope === 'key' ? 'k' : 'm'}:${name}:r`, spec: this.#spec(l.rpm) });
      if (l.tpm !== undefined) checks.push({ scope, kind: 'tokens', bucket: `${scope === 'key' ? 'k' : 'm'}:${name}:t`, spec: this.#spec(l.tpm) });
    };
    if (req.keyName !== undefined) {
      const own = req.keyLimits;
      const named = c.keys[req.keyName];
      const d = c.defaults.key;
      add('key', req.keyName, { rpm: own?.rpm ?? named?.rpm ?? d.rpm, tpm: own?.tpm ?? named?.tpm ?? d.tpm });
    }
    const m = c.models[req.model];
    add('model', req.model, { rpm: m?.rpm ?? c.defaults.model.rpm, tpm: m?.tpm ?? c.defaults.model.tpm });
    return checks;
  }

  async #refund(checks: readonly Check[], tokens: number, settled: PromiseSettledResult<TakeResult>[]): Promise<void> {
    const gives: Promise<void>[] = [];
    settled.forEach((s, i) => {
      const c = checks[i]!;
      const cost = costOf(c, tokens);
      if (s.status === 'fulfilled' && s.value.allowed && cost > 0) gives.push(this.#store.give(c.bucket, cost, c.spec));
    });
    for (const r of await Promise.allSettled(gives)) if (r.status === 'rejected') this.#counters.settleErrors++;
  }

  /** The tightest bucket of each kind (key before model on a tie), for the headers. */
  #readings(checks: readonly Check[], results: TakeResult[]): { requests?: BucketReading; tokens?: BucketReading } {
    let r = -1;
    let t = -1;
    for (let i = 0; i < checks.length; i++) {
      const rem = results[i]!.remaining;
      if (checks[i]!.kind === 'requests') {
        if (r < 0 || rem < results[r]!.remaining) r = i;
      } else if (t < 0 || rem < results[t]!.remaining) t = i;
    }
    return { requests: readingOf(checks, results, r), tokens: readingOf(checks, results, t) };
  }

  #allowed(plan: Plan, reservedTokens: number, results: TakeResult[]): AllowedAdmission {
    const { requests, tokens } = this.#readings(plan.checks, results);
    return new Allowed(this.#store, this.#counters, plan.reserved, reservedTokens, requests, tokens);
  }

  #denied(req: AdmitRequest, checks: readonly Check[], results: TakeResult[]): RateLimitedAdmission {
    let worst = -1;
    checks.forEach((_, i) => {
      const r = results[i]!;
      if (!r.allowed && (worst < 0 || r.retryAfterMs > results[worst]!.retryAfterMs)) worst = i;
    });
    const c = checks[worst]!;
    const waitMs = Number.isFinite(results[worst]!.retryAfterMs) ? results[worst]!.retryAfterMs : 60_000;
    const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
    this.#counters.limited[`${c.scope}_${c.kind}`]++;
    const { requests, tokens } = this.#readings(checks, results);
    const headers = { 'retry-after': String(retryAfterSeconds), 'retry-after-ms': String(Math.max(1, waitMs)), ...rateLimitHeaders(requests, tokens) };
    const scopeText = c.scope === 'key' ? `API key '${req.keyName}'` : `model '${req.model}'`;
    const kindText = c.kind === 'requests' ? 'requests per minute (RPM)' : 'tokens per minute (TPM)';
    const limitValue = c.spec.capacity;
    return {
      allowed: false,
      reason: 'limited',
      scope: c.scope,
      limit: c.kind,
      retryAfterSeconds,
      headers,
      error: () => sbError('SB_ERR_RATE_LIMITED', scopeText, kindText, limitValue, retryAfterSeconds),
    };
  }

  #storeFailed(err: unknown): Admission {
    this.#counters.storeErrors++;
    this.#setState('degraded', err);
    if (this.#config.failMode === 'open') {
      this.#counters.failOpen++;
      return FAIL_OPEN;
    }
    this.#counters.failClosed++;
    const detail = describeError(err);
    return {
      allowed: false,
      reason: 'unavailable',
      retryAfterSeconds: 1,
      headers: { 'retry-after': '1' },
      error: () => sbErrorFrom(err, 'SB_ERR_RATE_LIMIT_UNAVAILABLE', detail),
    };
  }

  #setState(next: StoreState, err?: unknown): void {
    if (next === this.#state) return;
    this.#state = next;
    if (next === 'degraded') {
      this.#log.error(
        { store: this.#store.kind, failMode: this.#config.failMode, err: describeError(err) },
        this.#config.failMode === 'open'
          ? 'rate-limit store unreachable: admitting requests without limits (fail_mode open) until it returns'
          : 'rate-limit store unreachable: refusing requests with 503 (fail_mode closed) until it returns',
      );
    } else {
      this.#log.info({ store: this.#store.kind }, 'rate-limit store reachable again: limits enforced');
    }
    this.#onStateChange?.(next);
  }
}
