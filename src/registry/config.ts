// The registry's one config schema (STYLE "Config"): flags as in InfiniLM-SVC (seconds on the
// command line), milliseconds inside. Parsed once by the CLI and frozen.
import { z } from 'zod';
import type { DeepReadonly } from '../core/index.js';

const ms = (def: number) => z.number().int().positive().default(def);

export const registryConfigSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8081),
  /** "memory" (default, snapshot to dataDir) or a redis:// URL. */
  store: z.string().min(1).default('memory'),
  /** Where the memory store keeps its snapshot; unset means no snapshot. */
  dataDir: z.string().min(1).optional(),
  /** Key prefix in Redis, so several fleets can share one server. */
  redisPrefix: z.string().min(1).default('switchboard:registry'),
  /** Bearer token required on writes when set. */
  token: z.string().min(1).optional(),
  /** Allow binding beyond loopback without a token. */
  insecure: z.boolean().default(false),

  /** Active probe interval (InfiniLM `--health-interval`, 30 s). */
  healthIntervalMs: ms(30_000),
  /** Active probe timeout (InfiniLM `--health-timeout`, 5 s). */
  healthTimeoutMs: ms(5_000),
  /** Consecutive failed probes before a record is marked unhealthy. */
  probeFall: z.number().int().min(1).default(3),
  /** Consecutive good probes before an unhealthy record is healthy again. */
  probeRise: z.number().int().min(1).default(2),
  /** Probes in flight at once, at most. */
  probeConcurrency: z.number().int().min(1).default(64),
  /** Active probes on or off (off: health_status stays "unknown" unless asked for). */
  probes: z.boolean().default(true),

  /** How often stale records are removed (InfiniLM `--cleanup-interval`, 60 s). */
  cleanupIntervalMs: ms(60_000),
  /** A record is removed when its last heartbeat is older than this (300 s). */
  cleanupAgeMs: ms(300_000),
  /** Default lease: a record is healthy while its heartbeat is younger than this (120 s). */
  leaseTtlMs: ms(120_000),
  /** How often lapsed leases are looked for (so routers learn within about this long). */
  leaseCheckIntervalMs: ms(1_000),
  /** Memory store: the longest a change waits before the snapshot is rewritten. */
  snapshotIntervalMs: ms(2_000),

  maxBodyBytes: z.number().int().positive().default(1024 * 1024),
  /** Longest `wait` a blocking query may ask for. */
  maxWaitMs: ms(300_000),
  /** SSE keep-alive comment interval. */
  keepAliveMs: ms(15_000),
  /** Change events kept for clients that reconnect with Last-Event-ID. */
  feedBufferSize: z.number().int().min(1).default(4096),
});

export type RegistryConfigInput = z.input<typeof registryConfigSchema>;
export type RegistryConfig = DeepReadonly<z.output<typeof registryConfigSchema>>;
