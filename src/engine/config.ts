// The sim's one config schema (STYLE "Config"): flags, config file and environment all land
// here. Defaults look like a small GPU engine (a 30-token chat reply in about half a second)
// while staying friendly to demos; benchmarks and tests turn the delays down to 0.
import { z } from 'zod';
import { deepFreeze, type DeepReadonly } from '../core/index.js';

const rate = z.number().min(0).max(1);
const count = z.number().int().min(1);

/** Fault settings: the same object the flags, the config file and `/admin/faults` use. */
export const faultsSchema = z.strictObject({
  /** Share of inference requests answered with HTTP 500 (0..1). */
  errorRate: rate.default(0),
  /** Share of inference requests delayed by latencySpikeMs before their first token (0..1). */
  latencySpikeRate: rate.default(0),
  /** Extra delay of a spiked request, in ms. */
  latencySpikeMs: z.number().min(0).max(600_000).default(2_000),
  /** A generation stops sending (connection kept open, slot held) after this many tokens. */
  stallAfterTokens: z.number().int().min(0).nullable().default(null),
  /** A generation's connection is destroyed (no [DONE]) after this many tokens. */
  dropAfterTokens: z.number().int().min(0).nullable().default(null),
  /** The process crashes (non-zero exit) once this many inference requests were answered. */
  crashAfterRequests: count.nullable().default(null),
  /**
   * Slow start: /health and inference answer 503 "Loading model" for this long. From the flag,
   * counted from start; set through /admin/faults, counted from that moment (a model reload).
   */
  warmupMs: z.number().min(0).max(3_600_000).default(0),
});

export type FaultSettings = z.output<typeof faultsSchema>;

export const ENGINE_KINDS = ['all', 'chat', 'embeddings', 'rerank'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];

export const simConfigSchema = z
  .strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    /** vLLM's default port; 0 = any free port. */
    port: z.number().int().min(0).max(65535).default(8000),
    /** Model ids served; the first one labels the metrics (vLLM's served-model-name rule). */
    models: z.array(z.string().min(1).max(256)).min(1).default(['sim-model']),
    /** Which endpoints this engine serves: chat (chat + completions), embeddings, rerank, or all. */
    kind: z.enum(ENGINE_KINDS).default('all'),
    /** Seeds faults and output text: same request + same seed => same reply. Unset: random. */
    seed: z.number().int().optional(),

    /** Sequences decoded together at most (vLLM --max-num-seqs; llama.cpp slots). */
    maxNumSeqs: count.max(65_536).default(32),
    /** Tokens one engine step may process (decodes + prefill chunks; vLLM --max-num-batched-tokens). */
    maxNumBatchedTokens: count.default(2048),
    /** Prompt tokens prefilled per second. */
    prefillTokensPerS: z.number().positive().default(8000),
    /** Duration of one decode step with one running sequence, in ms (0 = as fast as possible). */
    decodeMs: z.number().min(0).max(60_000).default(12),
    /** Each extra sequence in a step adds this fraction of decodeMs: decodeMs * (1 + p * (n - 1)). */
    batchPenalty: z.number().min(0).max(10).default(0.03),
    /** KV cache size in tokens; a request reserves prompt + max_tokens of it while it runs. */
    kvCacheTokens: count.default(65_536),
    /** Longest prompt + completion a request may ask for (vLLM --max-model-len). */
    maxModelLen: count.default(8192),
    /** Tokens per KV block: the unit of prefix caching (vLLM --block-size). */
    blockSizeTokens: count.max(1024).default(16),
    /** Automatic prefix caching on or off (vLLM --enable-prefix-caching). */
    prefixCaching: z.boolean().default(true),
    /** Prompt blocks the prefix cache remembers (LRU). */
    prefixCacheBlocks: count.default(8192),
    /** Completion length when a request gives no max_tokens. */
    defaultMaxTokens: count.default(32),
    /** Share of generations that stop early (finish_reason "stop") instead of at max_tokens. */
    earlyStopRate: rate.default(0.25),
    /** Length of the vectors /v1/embeddings returns. */
    embeddingDim: count.max(65_536).default(384),

    /** Largest request body accepted, in bytes. */
    maxBodyBytes: count.default(8 * 1024 * 1024),
    /** Bearer token for /admin/*; without one, admin is only open when bound to loopback. */
    adminToken: z.string().min(1).optional(),
    faults: faultsSchema.default(faultsSchema.parse({})),
  })
  .refine((c) => c.maxModelLen <= c.kvCacheTokens, {
    message: 'must not exceed kvCacheTokens: a request of maxModelLen tokens could never be admitted',
    path: ['maxModelLen'],
  })
  .refine((c) => c.maxNumBatchedTokens >= c.maxNumSeqs, {
    message: 'must be at least maxNumSeqs: every running sequence needs one token of each step',
    path: ['maxNumBatchedTokens'],
  });

export type SimConfigInput = z.input<typeof simConfigSchema>;
export type SimConfig = DeepReadonly<z.output<typeof simConfigSchema>>;

/** Parses a config object (tests and `switchboard up` build configs in code). */
export function simConfig(input: SimConfigInput = {}): SimConfig {
  return deepFreeze(simConfigSchema.parse(input));
}

/** Whether an engine of this kind serves an endpoint family. */
export function serves(kind: EngineKind, family: Exclude<EngineKind, 'all'>): boolean {
  return kind === 'all' || kind === family;
}
