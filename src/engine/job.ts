// One HTTP request's work in the engine: its sequences (one for a generation, one per input for
// embeddings and rerank), an optional latency spike before they are queued, and abort
// propagation: a client that goes away frees its slots and KV at once.
import type { ServerResponse } from 'node:http';
import type { TimerHandle } from '../core/index.js';
import type { SimDeps } from './context.js';
import type { Sequence, SequenceSpec } from './scheduler.js';

export class Job {
  readonly sequences: Sequence[] = [];
  /** Resolves true when every sequence completed, false when the client left or the job was cut. */
  readonly done: Promise<boolean>;
  #resolve!: (completed: boolean) => void;
  #settled = false;
  #left: number;
  #spike: TimerHandle | undefined;
  readonly #d: SimDeps;
  readonly #res: ServerResponse;

  constructor(d: SimDeps, res: ServerResponse, specs: readonly SequenceSpec[], spikeMs: number, onToken?: (n: number) => void) {
    this.#d = d;
    this.#res = res;
    this.#left = specs.length;
    this.done = new Promise<boolean>((resolve) => (this.#resolve = resolve));
    res.on('close', this.#onClose);
    const start = (): void => {
      this.#spike = undefined;
      if (this.#settled) return;
      const onDone = (): void => {
        if (--this.#left === 0) this.#settle(true);
      };
      try {
        for (const spec of specs) this.sequences.push(d.scheduler.submit(spec, { onToken, onDone }));
      } catch (err) {
        // the engine is gone (closed or crashed while this request waited out a spike)
        d.log.warn({ err }, 'request dropped: the engine is not running');
        this.#abortAll();
        this.#settle(false);
        res.destroy();
      }
    };
    if (spikeMs > 0) this.#spike = d.clock.setTimeout(start, spikeMs);
    else start();
  }

  /** Prompt tokens found in the prefix cache, over all sequences. */
  get cachedTokens(): number {
    let n = 0;
    for (const s of this.sequences) n += s.cachedTokens;
    return n;
  }

  /** Stops the job (a drop fault): its sequences leave the engine, done resolves false. */
  cut(): void {
    if (this.#settled) return;
    this.#abortAll();
    this.#settle(false);
  }

  readonly #onClose = (): void => {
    if (this.#settled || this.#res.writableEnded) return;
    // the client went away before the answer: free the engine for others at once
    this.#abortAll();
    this.#settle(false);
  };

  #abortAll(): void {
    this.#spike?.cancel();
    this.#spike = undefined;
    let aborted = false;
    for (const s of this.sequences) aborted = this.#d.scheduler.abort(s) || aborted;
    if (aborted || this.sequences.length === 0) this.#d.metrics.aborted();
  }

  #settle(completed: boolean): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#res.off('close', this.#onClose);
    this.#resolve(completed);
  }
}
