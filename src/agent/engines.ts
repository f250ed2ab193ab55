// The engines one agent runs, as TorchServe-style "models": a named group of identical engine
// replicas (one backend table, min/max workers). The config file's [backend] is the primary
// group, named after the agent, whose first replica is the original babysitter's engine: port
// `port`, record `<name>-server`. Groups added through the model API, and extra replicas, get a
// free port each and records `<name>[-<group>]-server[-<i>]`.
import { createServer } from 'node:net';
import { sbError, type Clock, type Logger, type Random } from '../core/index.js';
import type { AgentConfig, BackendConfig } from './config.js';
import { hostPort, localAddress } from './config.js';
import { drainReplica, type DrainDeps } from './drain.js';
import { EngineLog } from './logs.js';
import { presetFor, type BoundPreset, type EngineLoad } from './presets/index.js';
import type { Registrar } from './registration.js';
import { Supervisor } from './supervisor.js';

export interface GroupSpec {
  name: string;
  backend: BackendConfig;
  /** Merged over each engine record's metadata (the [metadata] table for the primary group). */
  metadata: Readonly<Record<string, unknown>>;
  minWorkers: number;
  maxWorkers: number;
  /** The config file's backend: replica 0 keeps the original port and record name. */
  primary: boolean;
}

export interface Replica {
  readonly group: string;
  readonly index: number;
  readonly recordName: string;
  readonly port: number;
  readonly baseUrl: string;
  readonly preset: BoundPreset;
  readonly supervisor: Supervisor;
  draining: boolean;
  /** Last load read (heartbeats, /metrics), if any. */
  lastLoad: EngineLoad | undefined;
  readLoad(): Promise<EngineLoad | undefined>;
}

export interface ModelGroup {
  spec: GroupSpec;
  readonly replicas: Replica[];
  readonly registeredAtMs: number;
}

export interface FleetDeps {
  config: AgentConfig;
  registrar: Registrar;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** The agent's own base URL as others reach it (engine records' health_url). */
  agentUrl: string;
  drain: Omit<DrainDeps, 'registrar'>;
  /** After a group is added or removed or its worker counts change (the model snapshot saves then). */
  onChange?: () => void;
}

const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A port free on host right now (the engine binds it moments later). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host.replace(/^\[|\]$/g, ''), () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export class EngineFleet {
  readonly #d: FleetDeps;
  readonly #groups = new Map<string, ModelGroup>();
  /** Changes to one group run one at a time. */
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(deps: FleetDeps) {
    this.#d = deps;
  }

  groups(): ModelGroup[] {
    return [...this.#groups.values()];
  }

  get(name: string): ModelGroup | undefined {
    return this.#groups.get(name);
  }

  replicas(): Replica[] {
    return this.groups().flatMap((g) => g.replicas);
  }

  replica(recordName: string): Replica | undefined {
    return this.replicas().find((r) => r.recordName === recordName);
  }

  /** Adds a group and starts minWorkers replicas (not waiting for them to be ready). */
  async add(spec: GroupSpec): Promise<ModelGroup> {
    if (!GROUP_NAME.test(spec.name)) throw sbError('SB_ERR_INVALID_FIELD', 'model_name', 'letters, digits, ".", "_" or "-" (at most 64, starting with a letter or digit)').withParam('model_name');
    if (this.#groups.has(spec.name)) throw sbError('SB_ERR_AGENT_MODEL_EXISTS', spec.name);
    checkWorkers(spec.name, spec.minWorkers, spec.maxWorkers);
    const preset = presetFor(spec.backend);
    if (!spec.primary && !preset.portable) throw sbError('SB_ERR_AGENT_SCALE', spec.name, 'a command backend started through the API must put {port} in its command or args, so that it binds the port the agent gives it');
    if (spec.minWorkers > 1 && !preset.portable) throw notPortable(spec.name);
    const group: ModelGroup = { spec, replicas: [], registeredAtMs: this.#d.clock.now() };
    this.#groups.set(spec.name, group);
    this.#d.onChange?.();
    await this.#locked(spec.name, () => this.#scaleTo(group, spec.minWorkers));
    return group;
  }

  /** Sets min/max workers and starts or drains replicas to reach minWorkers. */
  scale(name: string, minWorkers: number, maxWorkers: number): Promise<ModelGroup> {
    const group = this.#groups.get(name);
    if (!group) return Promise.reject(sbError('SB_ERR_AGENT_MODEL_NOT_FOUND', name));
    checkWorkers(name, minWorkers, maxWorkers);
    if (minWorkers > 1 && !presetFor(group.spec.backend).portable) return Promise.reject(notPortable(name));
    return this.#locked(name, async () => {
      group.spec = { ...group.spec, minWorkers, maxWorkers };
      this.#d.onChange?.();
      await this.#scaleTo(group, minWorkers);
      return group;
    });
  }

  /** Drains and stops every replica of a group, then forgets it. */
  remove(name: string): Promise<void> {
    const group = this.#groups.get(name);
    if (!group) return Promise.reject(sbError('SB_ERR_AGENT_MODEL_NOT_FOUND', name));
    return this.#locked(name, async () => {
      await this.#scaleTo(group, 0);
      this.#groups.delete(name);
      this.#d.onChange?.();
    });
  }

  /** SIGKILL every engine now (process exit hook). */
  killAll(): void {
    for (const r of this.replicas()) r.supervisor.killNow();
  }

  async #scaleTo(group: ModelGroup, n: number): Promise<void> {
    while (group.replicas.length < n) group.replicas.push(await this.#startReplica(group, group.replicas.length));
    const extra = group.replicas.splice(n);
    await Promise.all(extra.map((r) => drainReplica(r, { ...this.#d.drain, registrar: this.#d.registrar })));
  }

  async #startReplica(group: ModelGroup, index: number): Promise<Replica> {
    const { config: c, registrar, clock, random, logger } = this.#d;
    const spec = group.spec;
    const preset = presetFor(spec.backend);
    const local = localAddress(c.host);
    const port = spec.primary && index === 0 ? c.port : await freePort(local);
    const stem = spec.primary ? c.name : `${c.name}-${spec.name}`;
    const recordName = index === 0 ? `${stem}-server` : `${stem}-server-${index}`;
    const baseUrl = `http://${hostPort(local, port)}`;
    const startedAt = new Date(clock.now()).toISOString();
    const base = (): Record<string, unknown> => ({
      type: 'openai-api',
      parent_service: c.name,
      babysitter: 'enhanced',
      started_at: startedAt,
      ...(spec.primary ? {} : { model_group: spec.name }),
      health_url: `${this.#d.agentUrl}/health?service=${encodeURIComponent(recordName)}`,
    });
    // the supervisor's events fire only after start(), when `replica` exists
    // eslint-disable-next-line prefer-const
    let replica: Replica;
    const record = (status: string, models?: { id: string }[]): Parameters<Registrar['upsert']>[0] => ({
      name: recordName,
      port,
      status,
      metadata: { ...base(), ...(models ? { models: models.map((m) => m.id), models_list: models } : {}), ...preset.metadata, ...spec.metadata },
      readLoad: () => replica.readLoad(),
    });
    const supervisor = new Supervisor({
      name: recordName,
      launch: () => preset.launch({ name: c.name, host: c.host, port }),
      baseUrl,
      endpoints: preset,
      policy: { maxRestarts: c.maxRestarts, restartDelayMs: c.restartDelayMs, maxRestartDelayMs: c.maxRestartDelayMs, stableAfterMs: c.stableAfterMs },
      readyTimeoutMs: c.readyTimeoutMs,
      stopGraceMs: c.stopGraceMs,
      log: new EngineLog({ dir: c.logDir, name: recordName, maxBytes: c.logMaxBytes, maxFiles: c.logFiles, clock }),
      clock,
      random,
      logger,
      events: {
        // registered with fresh models every time it becomes ready (the original: once)
        onReady: (models) => {
          if (!replica.draining) void registrar.upsert(record('running', models));
        },
        onDown: () => {
          replica.lastLoad = undefined;
          if (!replica.draining) void registrar.setStatus(recordName, 'starting');
        },
        onFailed: () => {
          if (replica.draining) return;
          // shown as failed even when it never came up, so the operator sees why nothing serves
          if (registrar.status(recordName) === undefined) void registrar.upsert(record('failed'));
          else void registrar.setStatus(recordName, 'failed');
        },
      },
    });
    replica = {
      group: spec.name,
      index,
      recordName,
      port,
      baseUrl,
      preset,
      supervisor,
      draining: false,
      lastLoad: undefined,
      async readLoad() {
        if (!preset.readLoad || supervisor.state !== 'ready') return undefined;
        const load = await preset.readLoad(baseUrl, 2000);
        if (load) replica.lastLoad = load;
        return load;
      },
    };
    replica.supervisor.start();
    return replica;
  }

  #locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.#locks.set(name, next.catch(() => undefined));
    return next;
  }
}

function checkWorkers(name: string, min: number, max: number): void {
  if (!Number.isInteger(min) || min < 0 || min > 64) throw sbError('SB_ERR_AGENT_SCALE', name, `min_worker must be an integer from 0 to 64, got ${min}`);
  if (!Number.isInteger(max) || max < min || max > 64) throw sbError('SB_ERR_AGENT_SCALE', name, `max_worker must be an integer from min_worker (${min}) to 64, got ${max}`);
}

function notPortable(name: string): Error {
  return sbError('SB_ERR_AGENT_SCALE', name, 'its command line has no {port} placeholder, so every replica would bind the same port; put {port} in the command or args');
}
