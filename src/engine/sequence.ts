// One sequence in the engine model: what a request asks of the scheduler (SequenceSpec), the
// events it gets back, and its state as the scheduler tracks it.

export type SequenceState = 'waiting' | 'running' | 'stalled' | 'done' | 'aborted';

export interface SequenceSpec {
  /** Prompt token ids (prefix-cache keys are built from them). */
  promptTokens: readonly number[];
  /** Completion tokens reserved in the KV cache (max_tokens); 0 = prefill only (embeddings, rerank). */
  maxTokens: number;
  /** Tokens actually generated, at most maxTokens (fewer = an early stop). */
  outputTokens: number;
  /** Prefix-cache namespace (e.g. the model); undefined = never cached (pooling requests). */
  cacheScope?: number;
  /** After this many tokens the sequence hangs: it keeps its slot and KV but makes no progress. */
  stallAfterTokens?: number | null;
  /** When the request arrived (clock.monotonic), if earlier than submit (a latency spike). */
  arrivedAt?: number;
}

export interface SequenceEvents {
  /** The n-th completion token (1-based) was produced at the end of a step. */
  readonly onToken?: (n: number) => void;
  /** Prefill and generation are complete; the slot is already free. */
  readonly onDone: () => void;
}

export interface Sequence {
  readonly id: number;
  readonly state: SequenceState;
  readonly promptLength: number;
  /** Prompt tokens found in the prefix cache at admission. */
  readonly cachedTokens: number;
  readonly generated: number;
  readonly maxTokens: number;
  /** Slot index while running (llama.cpp's /slots), -1 otherwise. */
  readonly slot: number;
  readonly arrivedAt: number;
  readonly admittedAt: number | undefined;
  readonly firstTokenAt: number | undefined;
  readonly finishedAt: number | undefined;
}

/** The scheduler's own record of a sequence (its mutable side stays inside the engine). */
export class Seq implements Sequence {
  state: SequenceState = 'waiting';
  cachedTokens = 0;
  generated = 0;
  slot = -1;
  admittedAt: number | undefined;
  firstTokenAt: number | undefined;
  finishedAt: number | undefined;
  prefillLeft = 0;
  /** Prefill tokens planned for the current step (0 = decoding). */
  chunk = 0;
  keys: number[] | undefined;
  readonly promptLength: number;
  readonly maxTokens: number;
  readonly kv: number;

  constructor(
    readonly id: number,
    readonly spec: SequenceSpec,
    readonly events: SequenceEvents,
    readonly arrivedAt: number,
  ) {
    this.promptLength = spec.promptTokens.length;
    this.maxTokens = spec.maxTokens;
    this.kv = spec.promptTokens.length + spec.maxTokens;
  }
}

