// Passive health, nginx semantics: `maxFails` failures within `failTimeout` eject a backend for
// `failTimeout`. A backend ejected again soon after coming back stays out twice as long each time
// (capped); one that behaves for a while starts from scratch. When the ejection ends the backend is
// not routable until a probe succeeds (re-admission); a failed probe ejects it again.
import type { Clock } from '../core/index.js';

export type PassiveState = 'ok' | 'ejected' | 'probing';

export interface PassiveSettings {
  maxFails: number;
  failTimeoutMs: number;
  maxEjectionMs: number;
}

export class PassiveHealth {
  state: PassiveState = 'ok';
  /** Failure times inside the current window. */
  #fails: number[] = [];
  ejections = 0;
  ejectedUntil = 0;
  #lastEjectionEnd = 0;
  #maxFails: number;
  #failTimeoutMs: number;

  constructor(
    private readonly settings: PassiveSettings,
    private readonly clock: Clock,
  ) {
    this.#maxFails = settings.maxFails;
    this.#failTimeoutMs = settings.failTimeoutMs;
  }

  /** Per-backend values from metadata (`max_fails`, `fail_timeout` in seconds). */
  override(maxFails: number | undefined, failTimeoutMs: number | undefined): void {
    this.#maxFails = maxFails !== undefined && Number.isInteger(maxFails) && maxFails >= 0 ? maxFails : this.settings.maxFails;
    this.#failTimeoutMs = failTimeoutMs !== undefined && failTimeoutMs > 0 ? failTimeoutMs : this.settings.failTimeoutMs;
  }

  get routable(): boolean {
    return this.state === 'ok';
  }

  /**
   * Counts one failure. Returns the ejection length when this failure should eject the backend
   * (the caller checks the ejection cap and then calls eject()), else 0.
   */
  fail(): number {
    if (this.#maxFails === 0 || this.state !== 'ok') return 0;
    const now = this.clock.monotonic();
    const from = now - this.#failTimeoutMs;
    this.#fails = this.#fails.filter((t) => t > from);
    this.#fails.push(now);
    if (this.#fails.length < this.#maxFails) return 0;
    // a repeat offender: ejected again within a few windows of its last ejection ending
    const repeat = this.ejections > 0 && now - this.#lastEjectionEnd < this.#failTimeoutMs * 4;
    const n = repeat ? this.ejections + 1 : 1;
    return Math.min(this.#failTimeoutMs * 2 ** (n - 1), this.settings.maxEjectionMs);
  }

  succeed(): void {
    if (this.#fails.length > 0) this.#fails = [];
  }

  eject(durationMs: number): void {
    const now = this.clock.monotonic();
    const repeat = this.ejections > 0 && now - this.#lastEjectionEnd < this.#failTimeoutMs * 4;
    this.ejections = repeat ? this.ejections + 1 : 1;
    this.state = 'ejected';
    this.ejectedUntil = now + durationMs;
    this.#fails = [];
  }

  /** The ejection is over: wait for a probe. */
  startProbing(): void {
    if (this.state === 'ejected') this.state = 'probing';
  }

  readmit(): void {
    this.state = 'ok';
    this.#lastEjectionEnd = this.clock.monotonic();
    this.#fails = [];
  }

  /** A failed re-admission probe: out again, for the next (longer) period. */
  probeFailed(): number {
    const d = Math.min(this.#failTimeoutMs * 2 ** this.ejections, this.settings.maxEjectionMs);
    this.ejections++;
    this.state = 'ejected';
    this.ejectedUntil = this.clock.monotonic() + d;
    return d;
  }
}
