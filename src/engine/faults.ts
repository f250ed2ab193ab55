// Fault injection: the live fault settings (from flags / config file, changed at runtime through
// /admin/faults) and the per-request decisions drawn from the injected Random, so a run under
// --seed injects the same faults into the same requests.
import { closestKey, sbError, type Clock, type Random, type SwitchboardError } from '../core/index.js';
import { faultsSchema, type FaultSettings } from './config.js';

export type FaultKind = 'error' | 'latency_spike' | 'stall' | 'drop' | 'crash';

/** What the faults decide for one inference request, fixed at its arrival. */
export interface RequestFaults {
  /** Extra ms before the request is queued (0 = no spike). */
  spikeMs: number;
  stallAfterTokens: number | null;
  dropAfterTokens: number | null;
}

function fieldError(issue: { code: string; path: PropertyKey[]; message: string; keys?: string[] }): SwitchboardError {
  if (issue.code === 'unrecognized_keys' && issue.keys?.length) {
    const key = issue.keys[0]!;
    const hint = closestKey(key, Object.keys(faultsSchema.shape));
    return sbError('SB_ERR_INVALID_FIELD', key, `a known fault setting${hint ? ` (did you mean '${hint}'?)` : ` (${Object.keys(faultsSchema.shape).join(', ')})`}`).withParam(key);
  }
  const field = issue.path.map(String).join('.') || 'body';
  return sbError('SB_ERR_INVALID_FIELD', field, issue.message.replace(/^Invalid input: /, '')).withParam(field);
}

export class Faults {
  #settings: FaultSettings;
  #loadingUntil: number;
  /** Answers counted toward crashAfterRequests (from when it was set). */
  #towardCrash = 0;
  readonly #clock: Clock;
  readonly #random: Random;

  constructor(initial: FaultSettings, clock: Clock, random: Random) {
    this.#settings = { ...initial };
    this.#clock = clock;
    this.#random = random;
    this.#loadingUntil = clock.monotonic() + initial.warmupMs;
  }

  get settings(): Readonly<FaultSettings> {
    return this.#settings;
  }

  /** PUT: the whole set is replaced (left-out settings are off). */
  replace(input: unknown): FaultSettings {
    return this.#apply(this.#validate(input));
  }

  /** PATCH: only the given settings change. */
  patch(input: unknown): FaultSettings {
    const next = this.#validate({ ...this.#settings, ...(this.#checkObject(input)) });
    const warmupGiven = Object.hasOwn(input as object, 'warmupMs');
    return this.#apply(next, warmupGiven);
  }

  #checkObject(input: unknown): Record<string, unknown> {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw sbError('SB_ERR_INVALID_FIELD', 'body', 'a JSON object of fault settings');
    return input as Record<string, unknown>;
  }

  #validate(input: unknown): FaultSettings {
    this.#checkObject(input);
    const r = faultsSchema.safeParse(input);
    if (!r.success) throw fieldError(r.error.issues[0] as never);
    return r.data;
  }

  #apply(next: FaultSettings, restartWarmup = true): FaultSettings {
    if (next.crashAfterRequests !== this.#settings.crashAfterRequests) this.#towardCrash = 0;
    this.#settings = next;
    // a warm-up set at runtime is a model reload: it counts from now (0 ends a running one)
    if (restartWarmup) this.#loadingUntil = this.#clock.monotonic() + next.warmupMs;
    return next;
  }

  /** True during warm-up ("Loading model"). */
  loading(): boolean {
    return this.#clock.monotonic() < this.#loadingUntil;
  }

  /** Decides an inference request's fate. Throws the injected 500 when errorRate says so. */
  forRequest(onInjected: (kind: FaultKind) => void): RequestFaults {
    const s = this.#settings;
    if (s.errorRate > 0 && this.#random.next() < s.errorRate) {
      onInjected('error');
      throw sbError('SB_ERR_ENGINE_FAULT', `injected error, errorRate ${s.errorRate}`);
    }
    let spikeMs = 0;
    if (s.latencySpikeRate > 0 && this.#random.next() < s.latencySpikeRate) {
      spikeMs = s.latencySpikeMs;
      onInjected('latency_spike');
    }
    return { spikeMs, stallAfterTokens: s.stallAfterTokens, dropAfterTokens: s.dropAfterTokens };
  }

  /** Counts an answered inference request; true when that reaches crashAfterRequests. */
  answered(): boolean {
    this.#towardCrash++;
    const n = this.#settings.crashAfterRequests;
    return n !== null && this.#towardCrash >= n;
  }
}
