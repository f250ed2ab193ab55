// The agent's records in the registry: itself (on port + 1) and each engine (`<name>-server`),
// registered as the original babysitters do, kept alive by heartbeats that carry each engine's
// load, and registered again whenever a heartbeat finds the record gone (a registry restart
// without a snapshot, or a clean-up after a network partition). The original registered once
// and then sent heartbeats into 404s forever.
import { describeError, silentLogger, type Clock, type Logger, type Random, type TimerHandle } from '../core/index.js';
import type { RegistryClient, Registration } from '../registry/client.js';
import type { EngineLoad } from './presets/index.js';

export interface RecordSpec {
  name: string;
  port: number;
  status: string;
  metadata: Record<string, unknown>;
  /** Read at each heartbeat; its result travels as `load`. */
  readLoad?: (() => Promise<EngineLoad | undefined>) | undefined;
}

export interface RegistrarOptions {
  /** Undefined: no registry configured (the original skipped registration then). */
  client: RegistryClient | undefined;
  /** Host written into the records. */
  host: string;
  heartbeatIntervalMs: number;
  leaseTtlS?: number | undefined;
  clock: Clock;
  random: Random;
  logger?: Logger;
  onHeartbeat?: (result: 'ok' | 'unknown' | 'error') => void;
  onRegister?: (name: string) => void;
}

interface Tracked {
  spec: RecordSpec;
  /** False until a POST succeeded, and again after a heartbeat found the record gone. */
  registered: boolean;
  /** Operations on one record run one at a time, in order. */
  chain: Promise<void>;
  failing: boolean;
}

export class Registrar {
  readonly #o: RegistrarOptions;
  readonly #log: Logger;
  readonly #records = new Map<string, Tracked>();
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(opts: RegistrarOptions) {
    this.#o = opts;
    this.#log = opts.logger ?? silentLogger;
  }

  get enabled(): boolean {
    return this.#o.client !== undefined;
  }

  /** Names tracked now. */
  names(): string[] {
    return [...this.#records.keys()];
  }

  status(name: string): string | undefined {
    return this.#records.get(name)?.spec.status;
  }

  /** Registers (or re-registers, overwriting) a record now and keeps it alive from then on. */
  upsert(spec: RecordSpec): Promise<void> {
    const t = this.#records.get(spec.name) ?? { spec, registered: false, chain: Promise.resolve(), failing: false };
    t.spec = spec;
    t.registered = false;
    this.#records.set(spec.name, t);
    return this.#enqueue(t, () => this.#register(t));
  }

  /** Changes a record's status (PUT; registers it again when the registry lost it). */
  setStatus(name: string, status: string): Promise<void> {
    const t = this.#records.get(name);
    if (!t) return Promise.resolve();
    t.spec = { ...t.spec, status };
    return this.#enqueue(t, async () => {
      const client = this.#o.client;
      if (!client) return;
      if (!t.registered) return this.#register(t);
      try {
        if (!(await client.heartbeat(name, { status }))) await this.#register(t);
      } catch (err) {
        this.#warn(t, `could not set ${name} to ${status}`, err);
      }
    });
  }

  /** Stops tracking a record and deletes it from the registry. */
  remove(name: string): Promise<void> {
    const t = this.#records.get(name);
    if (!t) return Promise.resolve();
    this.#records.delete(name);
    return this.#enqueue(t, async () => {
      const client = this.#o.client;
      if (!client) return;
      try {
        if (await client.deregister(name)) this.#log.info({ service: name }, `unregistered ${name}`);
      } catch (err) {
        this.#log.warn({ service: name, err: describeError(err) }, `could not unregister ${name}`);
      }
    });
  }

  /** Starts the heartbeat loop (first beat after one interval, as the originals). */
  start(): void {
    if (!this.#o.client || this.#timer || this.#closed) return;
    const schedule = (): void => {
      // ±10 % so the agents of a fleet started together do not beat in lockstep
      this.#timer = this.#o.clock.setTimeout(() => {
        void this.beat().finally(() => {
          if (!this.#closed) schedule();
        });
      }, Math.max(1, Math.round(this.#o.heartbeatIntervalMs * (0.9 + 0.2 * this.#o.random.next()))));
    };
    schedule();
  }

  /** One heartbeat for every record (registering those not registered). */
  async beat(): Promise<void> {
    await Promise.all([...this.#records.values()].map((t) => this.#enqueue(t, () => this.#beatOne(t))));
  }

  /** Stops heartbeats (records are left as they are; remove() them first to deregister). */
  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  async #beatOne(t: Tracked): Promise<void> {
    const client = this.#o.client;
    if (!client || !this.#records.has(t.spec.name)) return;
    if (!t.registered) return this.#register(t);
    const load = t.spec.readLoad ? await t.spec.readLoad().catch(() => undefined) : undefined;
    try {
      const known = await client.heartbeat(t.spec.name, { status: t.spec.status, ...(load ? { load: loadBody(load) } : {}) });
      this.#o.onHeartbeat?.(known ? 'ok' : 'unknown');
      if (known) {
        this.#recovered(t);
        return;
      }
      this.#log.warn({ service: t.spec.name }, `the registry does not know ${t.spec.name} (restarted?); registering it again`);
      t.registered = false;
      await this.#register(t);
    } catch (err) {
      this.#o.onHeartbeat?.('error');
      this.#warn(t, `heartbeat for ${t.spec.name} failed`, err);
    }
  }

  async #register(t: Tracked): Promise<void> {
    const client = this.#o.client;
    if (!client || !this.#records.has(t.spec.name)) return;
    const s = t.spec;
    const r: Registration = {
      name: s.name,
      host: this.#o.host,
      port: s.port,
      hostname: this.#o.host,
      url: `http://${this.#o.host.includes(':') && !this.#o.host.startsWith('[') ? `[${this.#o.host}]` : this.#o.host}:${s.port}`,
      status: s.status,
      metadata: s.metadata,
      ...(this.#o.leaseTtlS !== undefined ? { lease_ttl: this.#o.leaseTtlS } : {}),
    };
    try {
      await client.register(r);
      t.registered = true;
      this.#o.onRegister?.(s.name);
      this.#recovered(t);
      this.#log.info({ service: s.name, status: s.status, port: s.port }, `registered ${s.name} with the registry`);
    } catch (err) {
      this.#warn(t, `could not register ${s.name}; retrying at the next heartbeat`, err);
    }
  }

  #enqueue(t: Tracked, fn: () => Promise<void>): Promise<void> {
    const next = t.chain.then(fn, fn);
    t.chain = next.catch(() => undefined);
    return t.chain;
  }

  /** One warning per failure streak, not one per heartbeat. */
  #warn(t: Tracked, msg: string, err: unknown): void {
    if (t.failing) return;
    t.failing = true;
    this.#log.warn({ service: t.spec.name, err: describeError(err) }, msg);
  }

  #recovered(t: Tracked): void {
    if (!t.failing) return;
    t.failing = false;
    this.#log.info({ service: t.spec.name }, `registry reachable again for ${t.spec.name}`);
  }
}

/** The load as the registry takes it: only the numbers that were read. */
function loadBody(load: EngineLoad): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(load)) if (typeof v === 'number' && Number.isFinite(v) && v >= 0) out[k] = v;
  return out;
}
