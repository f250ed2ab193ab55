// The router's one config schema (STYLE "Config"): InfiniLM-SVC's flags (seconds on the command
// line, milliseconds inside) plus the routing file's keys (policies, timeouts, retries, passive
// health, per-model overrides). Parsed once by the CLI and frozen.
import { z } from 'zod';
import type { DeepReadonly } from '../core/index.js';

const ms = (def: number) => z.number().int().positive().default(def);

export const POLICIES = ['round_robin', 'weighted', 'least_connections', 'random_two', 'consistent_hash'] as const;
export type PolicyName = (typeof POLICIES)[number];

/** Timeouts: connect, first byte (headers and, for streams, the first chunk), idle gap between chunks, total. */
const timeoutsSchema = z.strictObject({
  connectMs: z.number().int().positive().optional(),
  firstByteMs: z.number().int().positive().optional(),
  idleMs: z.number().int().positive().optional(),
  totalMs: z.number().int().positive().optional(),
});

/** What may be set per model (routing file, `models.<id>`). */
const modelSchema = z.strictObject({
  policy: z.enum(POLICIES).optional(),
  timeouts: timeoutsSchema.optional(),
  /** Session key for consistent_hash: body field, header, or the client address. */
  hashKey: z.enum(['prompt_cache_key', 'header', 'client']).optional(),
});

const aliasSplitSchema = z.strictObject({
  variants: z.array(z.strictObject({ model: z.string().min(1), weight: z.number().min(0) })).min(1),
  /** Keep a client on one variant: by API key, by session (prompt_cache_key / session header / address), or not. */
  sticky: z.enum(['none', 'key', 'session']).default('none'),
  /** Shifts the canary's weight to zero when it does worse than the baseline over a window. */
  guard: z
    .strictObject({
      baseline: z.string().min(1),
      canary: z.string().min(1),
      windowMs: z.number().int().positive().default(60_000),
      minRequests: z.number().int().min(1).default(20),
      /** Canary error rate may exceed the baseline's by this much (0.05 = 5 points). */
      maxErrorRateDelta: z.number().min(0).default(0.05),
      /** Canary mean latency may be at most this multiple of the baseline's. */
      maxLatencyRatio: z.number().min(1).default(1.5),
    })
    .optional(),
});
export type AliasSplit = z.output<typeof aliasSplitSchema>;

export const routerConfigSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8080),
  /** Where to discover services; unset = static services only. */
  registryUrl: z.string().url().optional(),
  registryToken: z.string().min(1).optional(),
  /** InfiniLM static services file (bare array, {services}, or {static_services:{services}}). */
  staticServices: z.string().min(1).optional(),
  /** Active health checks of static services and re-admission probes of ejected backends. */
  healthIntervalMs: ms(30_000),
  healthTimeoutMs: ms(5_000),
  /** Poll interval when the registry has no change feed (InfiniLM `--registry-sync-interval`). */
  registrySyncIntervalMs: ms(10_000),
  /** A service missing from the registry is dropped after this (unless metadata.static). */
  removalGraceMs: z.number().int().min(0).default(60_000),

  policy: z.enum(POLICIES).default('round_robin'),
  /** Where consistent_hash finds the session key, in order: body `prompt_cache_key`, this header, the client address. */
  sessionHeader: z.string().min(1).default('x-session-id'),
  /** Bounded-load factor for consistent_hash: a backend takes at most ceil(c × average) in flight. */
  hashLoadFactor: z.number().min(1).default(1.25),

  timeouts: z
    .strictObject({
      connectMs: ms(5_000),
      firstByteMs: ms(300_000),
      idleMs: ms(300_000),
      totalMs: ms(300_000),
    })
    .default({ connectMs: 5_000, firstByteMs: 300_000, idleMs: 300_000, totalMs: 300_000 }),

  retries: z
    .strictObject({
      /** Attempts per request, the first included. */
      attempts: z.number().int().min(1).max(10).default(3),
      /** Retries may add at most this share of first attempts over the budget window... */
      budgetRatio: z.number().min(0).max(10).default(0.2),
      /** ...plus this many per second regardless (so a quiet router can still retry). */
      budgetMinPerSecond: z.number().min(0).default(5),
      budgetWindowMs: ms(10_000),
    })
    .default({ attempts: 3, budgetRatio: 0.2, budgetMinPerSecond: 5, budgetWindowMs: 10_000 }),

  passiveHealth: z
    .strictObject({
      /** Failures within failTimeout that eject a backend (nginx max_fails). 0 disables. */
      maxFails: z.number().int().min(0).default(3),
      /** Window for counting failures and first ejection length (nginx fail_timeout). */
      failTimeoutMs: ms(10_000),
      /** Repeat ejections double up to this. */
      maxEjectionMs: ms(300_000),
      /** At most this share of a model's backends may be ejected at once. */
      maxEjectedShare: z.number().min(0).max(1).default(0.5),
    })
    .default({ maxFails: 3, failTimeoutMs: 10_000, maxEjectionMs: 300_000, maxEjectedShare: 0.5 }),

  models: z.record(z.string(), modelSchema).default({}),

  /**
   * Model aliases and traffic splits: `alias: target` (the backend gets the target name, the
   * client sees the alias), or `alias: {variants: [{model, weight}], sticky, guard}`.
   */
  aliases: z.record(z.string().min(1), z.union([z.string().min(1), aliasSplitSchema])).default({}),

  /** API keys file (auth.yaml); keys are required when set. Reloaded when it changes. */
  keysFile: z.string().min(1).optional(),
  /** Rate-limit policy (the rate_limits.yaml shape: defaults, keys, models, fail_mode, ...). */
  rateLimits: z.record(z.string(), z.unknown()).optional(),
  /** "memory" (default) or a redis:// URL shared by several routers. */
  rateLimitStore: z.string().min(1).default('memory'),
  /** Router state: the usage database (SQLite by default) and its spool. Usage records are on when set. */
  dataDir: z.string().min(1).optional(),
  /** Usage database: sqlite:<file>, a .db path, or postgres://... (default: <dataDir>/usage.db). */
  usageDb: z.string().min(1).optional(),
  /** Usage rows older than this many days are deleted (hourly, in small batches); unset keeps every row. */
  usageRetentionDays: z.number().positive().max(36_500).optional(),
  /** How often the config file is checked for changes (0 = only on SIGHUP or POST /admin/reload). */
  reloadIntervalMs: z.number().int().min(0).default(2_000),

  /** Largest request body accepted (413 beyond). */
  maxBodyBytes: z.number().int().positive().default(32 * 1024 * 1024),
  /** Response header naming the backend that served. */
  backendHeader: z.string().min(1).default('x-switchboard-backend'),
  /** Admin endpoints (/services, /stats) need this bearer token when set. */
  adminToken: z.string().min(1).optional(),
  insecure: z.boolean().default(false),
});

export type RouterConfigInput = z.input<typeof routerConfigSchema>;
export type RouterConfig = DeepReadonly<z.output<typeof routerConfigSchema>>;
export type Timeouts = { connectMs: number; firstByteMs: number; idleMs: number; totalMs: number };

export interface ModelSettings {
  policy: PolicyName;
  timeouts: Timeouts;
  hashKey: 'prompt_cache_key' | 'header' | 'client' | undefined;
}

const settingsCache = new WeakMap<RouterConfig, { any: ModelSettings; byModel: Map<string, ModelSettings> }>();

/** The effective timeouts and policy for one model (computed once per config and model). */
export function modelSettings(config: RouterConfig, model: string | undefined): ModelSettings {
  let c = settingsCache.get(config);
  if (!c) {
    c = { any: { policy: config.policy, timeouts: { ...config.timeouts }, hashKey: undefined }, byModel: new Map() };
    settingsCache.set(config, c);
  }
  if (model === undefined) return c.any;
  const m = config.models[model];
  if (m === undefined) return c.any;
  let s = c.byModel.get(model);
  if (!s) {
    s = { policy: m.policy ?? config.policy, timeouts: { ...config.timeouts, ...(m.timeouts ?? {}) }, hashKey: m.hashKey };
    c.byModel.set(model, s);
  }
  return s;
}
