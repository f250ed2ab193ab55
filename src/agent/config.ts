// The agent's one config schema. The file is the InfiniLM-SVC Rust babysitter's TOML
// (`infini-babysitter --config-file`, reference §3.2): same keys, same defaults, seconds for
// durations. Unlike the original (serde ignores what it does not know), an unknown key, a
// missing field or a wrong type is refused at start, naming the key and the file. Keys of our
// own are marked "ours" below and in docs/configuration.md.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { parseDuration, type DeepReadonly } from '../core/index.js';

/** Backend types: the Rust babysitter's five, plus sim, llama.cpp and tgi (ours). */
export const BACKEND_TYPES = ['command', 'vllm', 'mock', 'infinilm-rust', 'infinilm', 'sim', 'llama.cpp', 'tgi'] as const;
export type BackendType = (typeof BACKEND_TYPES)[number];

/** Seconds as a number (the original's unit) or a duration string ("500ms", "5m"); out: ms. */
function seconds(defMs: number, minMs = 0) {
  return duration(minMs).default(defMs);
}

function duration(minMs: number) {
  return z
    .union([z.number(), z.string()])
    .transform((v, ctx) => {
      const ms = parseDuration(v, 's');
      if (ms === undefined || ms < minMs) {
        ctx.addIssue({ code: 'custom', message: `expected seconds (a number${minMs > 0 ? ' above 0' : ''}) or a duration such as "500ms", "30s", "5m"` });
        return z.NEVER;
      }
      return Math.round(ms);
    });
}

const DEFAULT_LOG_DIR = 'logs';
const args = z.array(z.string()).default([]);
const workDir = z.string().min(1).optional();
/** [backend.env]: merged over the inherited environment. Numbers and booleans become strings. */
const env = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({});
const models = z.array(z.string().min(1).max(256)).min(1);

export const backendSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('command'), command: z.string().min(1), args, work_dir: workDir, env }),
  z.strictObject({ type: z.literal('vllm'), model: z.string().min(1), args, work_dir: workDir, env, python: z.string().min(1).default('python3') }),
  z.strictObject({ type: z.literal('mock'), models, env }),
  z.strictObject({ type: z.literal('infinilm-rust'), config_file: z.string().min(1), work_dir: workDir, env, xtask: z.string().min(1).default('xtask') }),
  z.strictObject({
    type: z.literal('infinilm'),
    model_path: z.string().min(1),
    args,
    work_dir: workDir,
    env,
    python: z.string().min(1).default('python3'),
    launch_script: z.string().min(1).default('scripts/launch_server.py'),
  }),
  z.strictObject({
    type: z.literal('sim'),
    models: models.default(['sim-model']),
    kind: z.enum(['all', 'chat', 'embeddings', 'rerank']).optional(),
    args,
    env,
  }),
  z.strictObject({ type: z.literal('llama.cpp'), model: z.string().min(1), alias: z.string().min(1).optional(), args, work_dir: workDir, env, binary: z.string().min(1).default('llama-server') }),
  z.strictObject({ type: z.literal('tgi'), model: z.string().min(1), args, work_dir: workDir, env, binary: z.string().min(1).default('text-generation-launcher') }),
]);

export type BackendConfig = DeepReadonly<z.output<typeof backendSchema>>;

/** A [backend] table checked: the backend, or the first problem's field ("backend.type", "backend.gpus") and message. */
export function parseBackend(v: unknown): { backend: z.output<typeof backendSchema> } | { field: string; message: string } {
  const parsed = backendSchema.safeParse(v);
  if (parsed.success) return { backend: parsed.data };
  const issue = parsed.error.issues[0]!;
  const field = ['backend', ...issue.path.map(String), ...(issue.code === 'unrecognized_keys' ? [issue.keys.join(', ')] : [])].join('.');
  return { field, message: issue.message };
}

/**
 * Where an agent saves the models registered through its API (undefined: it does not), from its
 * [babysitter] keys as written: the agent itself and `switchboard backup` read it the same way.
 */
export function modelsFileOf(b: { models_file?: unknown; log_dir?: unknown; persist_models?: unknown }): string | undefined {
  if (b.persist_models === false) return undefined;
  if (typeof b.models_file === 'string' && b.models_file !== '') return b.models_file;
  return join(typeof b.log_dir === 'string' && b.log_dir !== '' ? b.log_dir : DEFAULT_LOG_DIR, 'models.json');
}
export type BackendInput = z.input<typeof backendSchema>;

const babysitterSchema = z
  .strictObject({
    /** Restarts allowed in a row before the engine is reported failed (Rust default 10000). */
    max_restarts: z.number().int().min(0).default(10_000),
    /** First restart delay; doubles per consecutive crash, with jitter (Rust: fixed 5 s). */
    restart_delay: seconds(5_000),
    heartbeat_interval: seconds(30_000, 1),
    // ---- ours
    max_restart_delay: seconds(300_000),
    stable_after: seconds(60_000),
    ready_timeout: seconds(900_000, 1),
    drain_timeout: seconds(30_000),
    stop_grace: seconds(10_000),
    lease_ttl: duration(1000).optional(),
    log_dir: z.string().min(1).default(DEFAULT_LOG_DIR),
    log_max_bytes: z.number().int().min(1024).default(50 * 1024 * 1024),
    log_files: z.number().int().min(1).default(5),
    /** Models registered through the API are saved here and registered again at start. */
    models_file: z.string().min(1).optional(),
    persist_models: z.boolean().default(true),
  })
  .prefault({});

function httpUrl(key: string) {
  return z.string().refine((u) => {
    try {
      const p = new URL(u).protocol;
      return p === 'http:' || p === 'https:';
    } catch {
      return false;
    }
  }, `${key} must be an absolute http:// or https:// URL`);
}

/** The babysitter TOML as written (snake_case, seconds). */
export const agentFileSchema = z.strictObject({
  name: z.string().min(1).max(200).regex(/^[^/\s]+$/, 'must not contain "/" or spaces').optional(),
  /** Address the engine and the agent bind, and (unless advertise_host) the one registered. */
  host: z.string().min(1).default('localhost'),
  /** The engine's port; the agent listens on port + 1. */
  port: z.number().int().min(1).max(65534),
  registry_url: httpUrl('registry_url').optional(),
  /** Accepted for compatibility; unused, as in the original. */
  router_url: z.string().optional(),
  babysitter: babysitterSchema,
  backend: backendSchema,
  /** Merged into the metadata of every engine record (overrides the agent's keys). */
  metadata: z.record(z.string(), z.unknown()).default({}),
  // ---- ours
  /** Host written into registry records when `host` is a wildcard or not reachable by others. */
  advertise_host: z.string().min(1).optional(),
  /** Bearer token for registry writes (or SWITCHBOARD_TOKEN). */
  registry_token: z.string().min(1).optional(),
  /** Bearer token for the model management API (or SWITCHBOARD_AGENT_TOKEN). */
  admin_token: z.string().min(1).optional(),
});

export type AgentFile = z.output<typeof agentFileSchema>;

/** The name the Rust babysitter puts in its own record's metadata.type for each backend. */
export function serviceTypeName(type: BackendType): string {
  switch (type) {
    case 'command':
      return 'command';
    case 'vllm':
      return 'vLLM';
    case 'mock':
      return 'mock';
    case 'infinilm-rust':
      return 'InfiniLM-Rust';
    case 'infinilm':
      return 'InfiniLM';
    case 'sim':
      return 'sim';
    case 'llama.cpp':
      return 'llama.cpp';
    case 'tgi':
      return 'TGI';
  }
}

export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]' || host === '';
}

/** Resolved, camelCase, milliseconds. */
export const agentConfigSchema = agentFileSchema.transform((f) => ({
  /** Rust default: `<service type lowercased>-<port>`, e.g. `vllm-8100`. */
  name: f.name ?? `${serviceTypeName(f.backend.type).toLowerCase().replace(/ /g, '-')}-${f.port}`,
  host: f.host,
  port: f.port,
  agentPort: f.port + 1,
  advertiseHost: f.advertise_host ?? (isWildcardHost(f.host) ? hostname() : f.host),
  registryUrl: f.registry_url,
  routerUrl: f.router_url,
  registryToken: f.registry_token,
  adminToken: f.admin_token,
  maxRestarts: f.babysitter.max_restarts,
  restartDelayMs: f.babysitter.restart_delay,
  maxRestartDelayMs: Math.max(f.babysitter.max_restart_delay, f.babysitter.restart_delay),
  stableAfterMs: f.babysitter.stable_after,
  heartbeatIntervalMs: f.babysitter.heartbeat_interval,
  readyTimeoutMs: f.babysitter.ready_timeout,
  drainTimeoutMs: f.babysitter.drain_timeout,
  stopGraceMs: f.babysitter.stop_grace,
  leaseTtlS: f.babysitter.lease_ttl === undefined ? undefined : f.babysitter.lease_ttl / 1000,
  logDir: f.babysitter.log_dir,
  logMaxBytes: f.babysitter.log_max_bytes,
  logFiles: f.babysitter.log_files,
  /** Where API-registered models are saved (undefined: not saved). */
  modelsFile: modelsFileOf(f.babysitter),
  backend: f.backend,
  metadata: f.metadata,
}));

export type AgentConfig = DeepReadonly<z.output<typeof agentConfigSchema>>;
export type AgentConfigInput = z.input<typeof agentFileSchema>;

/** The address the agent uses to reach an engine on this machine (a wildcard means loopback). */
export function localAddress(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  if (host.includes(':') && !host.startsWith('[')) return `[${host}]`;
  return host;
}

/** host:port for a URL (IPv6 literals in brackets). */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}
