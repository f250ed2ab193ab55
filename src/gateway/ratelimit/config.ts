// The rate-limit policy (the seed's `rate_limits.yaml`): requests and tokens per minute, per API
// key and per model, with defaults. snake_case in the file as in the seed's YAML files; parsed
// once into a frozen camelCase object, either from its own file or from a section of the
// router's policy file. Every unset limit is "no limit".
import { z } from 'zod';
import { deepFreeze, describeIssues, readConfigFile, sbError, type DeepReadonly } from '../../core/index.js';

const perMinute = z.number().int().positive();

const limitsSchema = z.strictObject({
  /** requests per minute */
  rpm: perMinute.optional(),
  /** tokens per minute (prompt + completion; reserved as prompt estimate + max_tokens) */
  tpm: perMinute.optional(),
});

export const rateLimitsFileSchema = z.strictObject({
  /** When the store (Redis) is unreachable: admit without limits ("open") or answer 503 ("closed"). */
  fail_mode: z.enum(['open', 'closed']).default('open'),
  /** Completion tokens reserved for a generation request that sets no max_tokens. */
  default_max_tokens: z.number().int().min(0).default(256),
  /** Characters per token when estimating a prompt's size before it is tokenized. */
  chars_per_token: z.number().positive().default(4),
  defaults: z
    .strictObject({
      key: limitsSchema.default({}),
      model: limitsSchema.default({}),
    })
    .default({ key: {}, model: {} }),
  /** Per key name (overridden by a key's own `limits` in the keys file). */
  keys: z.record(z.string().min(1), limitsSchema).default({}),
  /** Per model name, as the client asks for it. */
  models: z.record(z.string().min(1), limitsSchema).default({}),
});

export type RateLimitsFile = z.input<typeof rateLimitsFileSchema>;

export interface Limits {
  rpm?: number;
  tpm?: number;
}

export interface RateLimitsConfigShape {
  failMode: 'open' | 'closed';
  defaultMaxTokens: number;
  charsPerToken: number;
  defaults: { key: Limits; model: Limits };
  keys: Record<string, Limits>;
  models: Record<string, Limits>;
}

export type RateLimitsConfig = DeepReadonly<RateLimitsConfigShape>;

function limits(l: { rpm?: number | undefined; tpm?: number | undefined }): Limits {
  const out: Limits = {};
  if (l.rpm !== undefined) out.rpm = l.rpm;
  if (l.tpm !== undefined) out.tpm = l.tpm;
  return out;
}

function mapValues(rec: Record<string, { rpm?: number | undefined; tpm?: number | undefined }>): Record<string, Limits> {
  // a prototype-free object, so a model called "constructor" is just a model
  const out = Object.create(null) as Record<string, Limits>;
  for (const [k, v] of Object.entries(rec)) out[k] = limits(v);
  return out;
}

/**
 * Validates a rate-limit policy (a parsed rate_limits.yaml, or the section of a policy file).
 * Throws SB_ERR_CONFIG_INVALID naming each bad key and `source`.
 */
export function parseRateLimits(value: unknown, source: string): RateLimitsConfig {
  const r = rateLimitsFileSchema.safeParse(value ?? {});
  if (!r.success) {
    throw sbError('SB_ERR_CONFIG_INVALID', source, describeIssues(rateLimitsFileSchema, r.error, [{ source, values: (value ?? {}) as Record<string, unknown> }]));
  }
  const d = r.data;
  return deepFreeze({
    failMode: d.fail_mode,
    defaultMaxTokens: d.default_max_tokens,
    charsPerToken: d.chars_per_token,
    defaults: { key: limits(d.defaults.key), model: limits(d.defaults.model) },
    keys: mapValues(d.keys),
    models: mapValues(d.models),
  });
}

/** Reads rate_limits.yaml (or .json/.toml); SB_ERR_CONFIG_FILE / SB_ERR_CONFIG_INVALID name the file. */
export function loadRateLimits(path: string): RateLimitsConfig {
  return parseRateLimits(readConfigFile(path), `rate limits file ${path}`);
}

/** No limits at all (what the router runs with when no policy is configured). */
export const NO_RATE_LIMITS: RateLimitsConfig = parseRateLimits({}, 'defaults');
