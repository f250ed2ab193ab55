// One engine process, kept alive: start it, wait until it is ready (health and a model list,
// polled with back-off), restart it when it dies (restart-policy.ts), and give up loudly
// (state "failed") when it crash-loops. The engine runs in its own process group so that a
// Ctrl-C at the terminal reaches only the agent, which drains before stopping it, and so that
// stopping it also stops the workers it forked (vLLM, TGI).
import process from 'node:process';
import { spawn, type ChildProcess } from 'node:child_process';
import { describeError, jitter, silentLogger, type Clock, type Logger, type Random, type TimerHandle } from '../core/index.js';
import type { EngineLog } from './logs.js';
import type { LaunchSpec } from './presets/index.js';
import { checkReady, type EngineEndpoints, type ModelObject } from './probe.js';
import { decideRestart, type RestartPolicy } from './restart-policy.js';

export type EngineState = 'starting' | 'ready' | 'backoff' | 'failed' | 'stopping' | 'stopped';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (ENOENT, EACCES, ...). */
  error?: string;
  atMs: number;
  /** The engine's last output lines. */
  tail: string[];
}

export interface SupervisorEvents {
  /** Ready (again) with this model list. */
  onReady?(models: ModelObject[]): void;
  /** Was started and is gone (crash, exit, or a readiness time-out). */
  onDown?(exit: ExitInfo): void;
  /** Crash-looped past maxRestarts: no more restarts. */
  onFailed?(exit: ExitInfo): void;
  /** A restart is scheduled after delayMs (streak = crashes in a row). */
  onBackoff?(delayMs: number, streak: number): void;
}

export interface SupervisorOptions {
  /** The engine's record name (logs, errors). */
  name: string;
  launch: () => LaunchSpec;
  /** How the agent reaches the engine, e.g. http://127.0.0.1:8100. */
  baseUrl: string;
  endpoints: EngineEndpoints;
  policy: RestartPolicy;
  readyTimeoutMs: number;
  stopGraceMs: number;
  log: EngineLog;
  clock: Clock;
  random: Random;
  logger?: Logger;
  events?: SupervisorEvents;
  /** Per readiness request. */
  probeTimeoutMs?: number;
  /** Readiness polling: first wait and ceiling (doubling, jittered). */
  readyPollMs?: readonly [number, number];
}

export class Supervisor {
  readonly #o: SupervisorOptions;
  readonly #log: Logger;
  #state: EngineState = 'stopped';
  #child: ChildProcess | undefined;
  #stopping = false;
  #runAbort: AbortController | undefined;
  #sleepAbort = new AbortController();
  #loop: Promise<void> | undefined;
  #restarts = 0;
  #streak = 0;
  #startedAtMs: number | undefined;
  #readyAtMs: number | undefined;
  #readyAtMono: number | undefined;
  #models: ModelObject[] = [];
  #lastExit: ExitInfo | undefined;
  #lastBackoffMs: number | undefined;

  constructor(opts: SupervisorOptions) {
    this.#o = opts;
    this.#log = (opts.logger ?? silentLogger).child({ engine: opts.name });
  }

  get name(): string {
    return this.#o.name;
  }
  get state(): EngineState {
    return this.#state;
  }
  get pid(): number | undefined {
    return this.#child?.exitCode === null && this.#child.signalCode === null ? this.#child.pid : undefined;
  }
  /** Restarts since the agent started this engine. */
  get restarts(): number {
    return this.#restarts;
  }
  /** Crashes in a row (reset by a stable run). */
  get streak(): number {
    return this.#streak;
  }
  get startedAtMs(): number | undefined {
    return this.#startedAtMs;
  }
  get readyAtMs(): number | undefined {
    return this.#readyAtMs;
  }
  get models(): readonly ModelObject[] {
    return this.#models;
  }
  get lastExit(): ExitInfo | undefined {
    return this.#lastExit;
  }
  get lastBackoffMs(): number | undefined {
    return this.#lastBackoffMs;
  }
  get logPath(): string | undefined {
    return this.#o.log.path;
  }

  start(): void {
    if (this.#loop) return;
    this.#loop = this.#run().catch((err: unknown) => {
      this.#log.error({ err: describeError(err) }, 'supervisor stopped on an unexpected error');
      this.#state = 'failed';
    });
  }

  /** Stops the engine (SIGTERM to its group, SIGKILL after stopGraceMs) and supervision. */
  async stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      if (this.#state !== 'failed' && this.#state !== 'stopped') this.#state = 'stopping';
      this.#runAbort?.abort();
      this.#sleepAbort.abort();
      await this.#terminate();
    }
    await this.#loop;
    if (this.#state !== 'failed') this.#state = 'stopped';
    await this.#o.log.close();
  }

  /** SIGKILL now, synchronously (process 'exit' hook: never leave an engine orphaned). */
  killNow(): void {
    this.#signal('SIGKILL');
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      const exit = await this.#runOnce();
      if (this.#stopping) break;
      const readyFor = this.#readyAtMono === undefined ? undefined : this.#o.clock.monotonic() - this.#readyAtMono;
      const wasReady = this.#readyAtMono !== undefined;
      this.#readyAtMono = undefined;
      this.#readyAtMs = undefined;
      this.#lastExit = exit;
      this.#o.events?.onDown?.(exit);
      const d = decideRestart(this.#o.policy, this.#streak, readyFor, this.#o.random);
      this.#streak = d.streak;
      const how = exit.error ?? (exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`);
      if (d.action === 'fail') {
        this.#state = 'failed';
        this.#log.error({ exit: how, streak: d.streak, maxRestarts: this.#o.policy.maxRestarts, lastOutput: exit.tail.slice(-10) }, `engine ${this.#o.name} failed: it died ${d.streak} times in a row (max_restarts ${this.#o.policy.maxRestarts}); not restarting`);
        this.#o.events?.onFailed?.(exit);
        return;
      }
      this.#state = 'backoff';
      this.#lastBackoffMs = d.delayMs;
      this.#log.warn({ exit: how, wasReady, streak: d.streak, restartInMs: d.delayMs, lastOutput: exit.tail.slice(-5) }, `engine ${this.#o.name} exited (${how}); restarting in ${d.delayMs} ms`);
      this.#o.events?.onBackoff?.(d.delayMs, d.streak);
      try {
        await this.#o.clock.sleep(d.delayMs, this.#sleepAbort.signal);
      } catch {
        break; // stopped while waiting
      }
      this.#restarts++;
    }
  }

  /** One life of the engine: spawn, wait until ready, wait until it exits. */
  async #runOnce(): Promise<ExitInfo> {
    const o = this.#o;
    this.#state = 'starting';
    this.#startedAtMs = o.clock.now();
    const runAbort = new AbortController();
    this.#runAbort = runAbort;
    o.log.startRun();
    const spec = o.launch();
    let child: ChildProcess;
    try {
      child = spawn(spec.command, spec.args, {
        cwd: spec.cwd,
        env: { ...process.env, ...spec.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
    } catch (err) {
      return { code: null, signal: null, error: describeError(err), atMs: o.clock.now(), tail: o.log.tail() };
    }
    this.#child = child;
    o.log.attach(child.stdout!, 'stdout');
    o.log.attach(child.stderr!, 'stderr');
    const exited = new Promise<ExitInfo>((resolve) => {
      let spawnError: string | undefined;
      child.once('error', (err) => {
        spawnError = `${describeError(err)} (command ${spec.command}${spec.cwd ? `, in ${spec.cwd}` : ''})`;
        // a process that never started emits no 'exit'
        if (child.pid === undefined) resolve({ code: null, signal: null, error: spawnError, atMs: o.clock.now(), tail: o.log.tail() });
      });
      child.once('exit', (code, signal) => resolve({ code, signal, ...(spawnError ? { error: spawnError } : {}), atMs: o.clock.now(), tail: o.log.tail() }));
    }).then((info) => {
      runAbort.abort();
      return info;
    });
    if (child.pid !== undefined) this.#log.info({ pid: child.pid, command: spec.command, args: spec.args, logFile: o.log.path }, `engine ${o.name} started`);

    const models = await this.#waitReady(runAbort.signal);
    if (models) {
      this.#state = 'ready';
      this.#readyAtMs = o.clock.now();
      this.#readyAtMono = o.clock.monotonic();
      this.#models = models;
      this.#log.info({ models: models.map((m) => m.id), startupMs: this.#readyAtMs - this.#startedAtMs }, `engine ${o.name} is ready`);
      o.events?.onReady?.(models);
    } else if (!runAbort.signal.aborted) {
      this.#log.error({ readyTimeoutMs: o.readyTimeoutMs }, `engine ${o.name} did not become ready within ${o.readyTimeoutMs} ms; restarting it`);
      await this.#terminate();
    }
    const exit = await exited;
    this.#child = undefined;
    return exit;
  }

  /** The model list once ready; undefined when the run ended or readiness timed out. */
  async #waitReady(signal: AbortSignal): Promise<ModelObject[] | undefined> {
    const o = this.#o;
    const [first, ceiling] = o.readyPollMs ?? [100, 2000];
    const deadline = o.clock.monotonic() + o.readyTimeoutMs;
    let wait = first;
    let detail = '';
    while (!signal.aborted) {
      const r = await checkReady(o.baseUrl, o.endpoints, o.probeTimeoutMs ?? 2000);
      if (signal.aborted) return undefined;
      if (r.ready) return r.models;
      if (r.detail !== detail && this.#log.isLevelEnabled('debug')) this.#log.debug({ detail: r.detail }, 'engine not ready yet');
      detail = r.detail;
      if (o.clock.monotonic() >= deadline) return undefined;
      try {
        await o.clock.sleep(Math.min(jitter(o.random, wait, 0.2), Math.max(1, deadline - o.clock.monotonic())), signal);
      } catch {
        return undefined;
      }
      wait = Math.min(wait * 2, ceiling);
    }
    return undefined;
  }

  /** SIGTERM the engine's group, SIGKILL after the grace period; resolves when it is gone. */
  async #terminate(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.#signal('SIGTERM');
    let timer: TimerHandle | undefined = this.#o.clock.setTimeout(() => {
      this.#log.warn({ graceMs: this.#o.stopGraceMs }, `engine ${this.#o.name} ignored SIGTERM; sending SIGKILL`);
      this.#signal('SIGKILL');
      timer = undefined;
    }, this.#o.stopGraceMs);
    await gone;
    timer?.cancel();
  }

  #signal(sig: NodeJS.Signals): void {
    const child = this.#child;
    if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      try {
        child.kill(sig);
      } catch {
        // already gone
      }
    }
  }
}
