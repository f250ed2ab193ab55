// A retry budget (Finagle's, as Envoy and linkerd have it): over a sliding window, retries may add
// at most `ratio` × first attempts plus `minPerSecond` × window seconds. When backends fail
// together the budget runs out and requests fail fast instead of multiplying the load on what is
// left. Ten one-tenth buckets make the window slide without a timer.
import type { Clock } from '../core/index.js';

const SLOTS = 10;

export class RetryBudget {
  readonly #firsts = new Float64Array(SLOTS);
  readonly #retries = new Float64Array(SLOTS);
  #slot = 0;
  #slotStart = 0;
  readonly #slotMs: number;

  constructor(
    private readonly ratio: number,
    private readonly minPerSecond: number,
    private readonly windowMs: number,
    private readonly clock: Clock,
  ) {
    this.#slotMs = windowMs / SLOTS;
    this.#slotStart = clock.monotonic();
  }

  #advance(): void {
    const now = this.clock.monotonic();
    let steps = Math.floor((now - this.#slotStart) / this.#slotMs);
    if (steps <= 0) return;
    if (steps > SLOTS) steps = SLOTS;
    for (let i = 0; i < steps; i++) {
      this.#slot = (this.#slot + 1) % SLOTS;
      this.#firsts[this.#slot] = 0;
      this.#retries[this.#slot] = 0;
    }
    this.#slotStart = now - ((now - this.#slotStart) % this.#slotMs);
  }

  /** A request's first attempt. */
  recordFirst(): void {
    this.#advance();
    this.#firsts[this.#slot]!++;
  }

  /** Takes one retry from the budget; false when it is spent. */
  tryRetry(): boolean {
    this.#advance();
    let firsts = 0;
    let retries = 0;
    for (let i = 0; i < SLOTS; i++) {
      firsts += this.#firsts[i]!;
      retries += this.#retries[i]!;
    }
    const allowed = this.ratio * firsts + (this.minPerSecond * this.windowMs) / 1000;
    if (retries + 1 > allowed) return false;
    this.#retries[this.#slot]!++;
    return true;
  }
}
