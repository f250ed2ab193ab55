// What every engine preset knows: how to start the engine on a given host and port, where its
// health and model list are, and how to read its load. One small file per engine type; they
// share this interface and one contract test (test/agent/presets.test.ts).
import type { BackendConfig, BackendType } from '../config.js';

export interface LaunchContext {
  /** The agent's name (the original passed it to the mock). */
  name: string;
  /** Address the engine binds. */
  host: string;
  port: number;
}

export interface LaunchSpec {
  command: string;
  args: string[];
  cwd?: string | undefined;
  /** Merged over the agent's own environment. */
  env: Record<string, string>;
}

/** An engine's load as heartbeats publish it (the registry's `load` field). */
export interface EngineLoad {
  running?: number;
  waiting?: number;
  kv_cache_usage?: number;
}

/** Reads the load from an engine at baseUrl (undefined: not readable right now). */
export type LoadReader = (baseUrl: string, timeoutMs: number) => Promise<EngineLoad | undefined>;

export interface EnginePreset<B extends BackendConfig = BackendConfig> {
  readonly type: B['type'];
  launch(backend: B, ctx: LaunchContext): LaunchSpec;
  /** Answers 2xx once the engine can serve (undefined: the model list alone decides). */
  readonly healthPath: string | undefined;
  /** Tried in order; the first that lists models wins (the Rust babysitter: /v1/models, /models). */
  readonly modelsPaths: readonly string[];
  readonly readLoad: LoadReader | undefined;
  /** Metadata this engine's records start from (before [metadata]), e.g. an embeddings type. */
  metadata(backend: B): Record<string, unknown>;
  /** Whether the engine can run on a port the agent chooses (replicas, the model API). */
  portable(backend: B): boolean;
}

export type BackendOf<T extends BackendType> = Extract<BackendConfig, { type: T }>;
