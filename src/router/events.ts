// What happened lately, for the operator: failovers, ejections, re-admissions and stream cuts in a
// small ring (the dashboard and /events show it), and a hook that sees every finished request
// (the dashboard's rolling rates, usage records).
import type { Exchange } from './exchange.js';

export type RouterEventType = 'failover' | 'ejection' | 'readmission' | 'stream_cut' | 'backend_added' | 'backend_removed';

export interface RouterEvent {
  /** ms since the epoch */
  ts: number;
  type: RouterEventType;
  backend: string;
  model?: string | undefined;
  detail?: string | undefined;
}

export class RouterEvents {
  readonly #ring: RouterEvent[] = [];
  readonly #requestObservers: ((ex: Exchange) => void)[] = [];

  constructor(
    private readonly now: () => number,
    private readonly size = 200,
  ) {}

  add(type: RouterEventType, backend: string, model?: string, detail?: string): void {
    this.#ring.push({ ts: this.now(), type, backend, model, detail });
    if (this.#ring.length > this.size) this.#ring.shift();
  }

  /** Newest first. */
  recent(limit = 50): RouterEvent[] {
    return this.#ring.slice(-limit).reverse();
  }

  onRequest(fn: (ex: Exchange) => void): void {
    this.#requestObservers.push(fn);
  }

  requestEnded(ex: Exchange): void {
    for (const fn of this.#requestObservers) fn(ex);
  }
}
