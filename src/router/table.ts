// The router's service table: every routable backend it knows, from the registry and the static
// file, and the candidate sets requests are routed over. Keeps InfiniLM's removal grace period: a
// service the registry no longer lists stops taking new work at once but its entry (and
// counters) stay until the grace period passes, so a blip in the registry does not reset state.
import type { Clock, Logger } from '../core/index.js';
import type { ServiceLoad, ServiceRecord } from '../registry/record.js';
import { Backend, ROUTABLE_TYPES, type BackendKind, type BackendSpec } from './backend.js';
import type { RouterConfig } from './config.js';
import { PassiveHealth } from './passive-health.js';

/** Which backends may take a request for this endpoint. */
export type Endpoint = 'chat' | 'completions' | 'embeddings' | 'rerank' | 'other';

function kindServes(kind: BackendKind, endpoint: Endpoint): boolean {
  if (kind === 'openai-api') return true;
  return kind === endpoint;
}

export interface TableEvents {
  /** A backend appeared, changed state or left (the balancers and metrics may care). */
  onChange?: () => void;
}

export class ServiceTable {
  readonly backends = new Map<string, Backend>();
  /** Services the registry no longer lists, with when they went missing. */
  readonly #missingSince = new Map<string, number>();
  #version = 0;
  #byModel = new Map<string, Backend[]>();
  #byModelVersion = -1;

  constructor(
    public config: RouterConfig,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  get version(): number {
    return this.#version;
  }

  #changed(): void {
    this.#version++;
  }

  upsert(spec: BackendSpec): void {
    const type = spec.metadata.type;
    if (typeof type !== 'string' || !ROUTABLE_TYPES.has(type)) {
      if (this.backends.has(spec.name)) this.#drop(spec.name, `type ${String(type)} is not routable`);
      return;
    }
    this.#missingSince.delete(spec.name);
    const existing = this.backends.get(spec.name);
    if (existing) {
      const before = `${existing.url}|${existing.up}|${existing.models.join(',')}|${existing.weight}|${existing.priority}|${existing.kind}`;
      existing.update(spec);
      existing.lastSeenMs = this.clock.now();
      const after = `${existing.url}|${existing.up}|${existing.models.join(',')}|${existing.weight}|${existing.priority}|${existing.kind}`;
      if (before !== after) {
        this.log.info({ backend: spec.name, status: spec.status, healthy: spec.healthy }, 'backend updated');
        this.#changed();
      }
      return;
    }
    const b = new Backend(spec, new PassiveHealth(this.config.passiveHealth, this.clock));
    b.lastSeenMs = this.clock.now();
    this.backends.set(spec.name, b);
    this.log.info({ backend: b.name, url: b.url, models: b.models, kind: b.kind }, 'backend added');
    this.#changed();
  }

  upsertRecord(r: ServiceRecord): void {
    this.upsert({
      name: r.name,
      host: r.host,
      port: r.port,
      url: r.url,
      status: r.status,
      healthy: r.is_healthy,
      metadata: r.metadata ?? {},
      static: false,
      load: r.load,
    });
  }

  setLoad(name: string, load: ServiceLoad): void {
    const b = this.backends.get(name);
    if (b) b.load = load;
  }

  /**
   * The registry no longer lists it; the entry goes after the grace period. A deregistration or
   * expiry (`deregistered`) stops new work at once. A record merely absent from a fresh snapshot
   * (a registry that restarted empty and whose agents have not re-registered yet) keeps its
   * traffic during the grace period, as InfiniLM's router did: static stability across registry
   * restarts.
   */
  missing(name: string, deregistered = true): void {
    const b = this.backends.get(name);
    if (!b || b.isStatic) return;
    if (!this.#missingSince.has(name)) this.#missingSince.set(name, this.clock.now());
    if (deregistered && b.registryHealthy) {
      b.registryHealthy = false;
      this.log.info({ backend: name }, 'backend left the registry');
      this.#changed();
    } else if (!deregistered) {
      this.log.info({ backend: name, graceMs: this.config.removalGraceMs }, 'backend missing from the registry; routing to it until the grace period ends');
    }
  }

  /** Replaces the registry-sourced set: anything not in `records` is missing. */
  snapshot(records: readonly ServiceRecord[]): void {
    const names = new Set(records.map((r) => r.name));
    for (const r of records) this.upsertRecord(r);
    for (const b of this.backends.values()) if (!b.isStatic && !names.has(b.name) && !this.#missingSince.has(b.name)) this.missing(b.name, false);
  }

  /** Deregistered (or expired) and only kept for the grace period: not part of the fleet any more. */
  gone(b: Backend): boolean {
    return this.#missingSince.has(b.name) && !b.registryHealthy;
  }

  /** Drops entries missing for longer than the grace period. */
  sweep(): void {
    const now = this.clock.now();
    for (const [name, since] of this.#missingSince) {
      if (now - since >= this.config.removalGraceMs) this.#drop(name, 'grace period over');
    }
  }

  #drop(name: string, why: string): void {
    this.backends.delete(name);
    this.#missingSince.delete(name);
    this.log.info({ backend: name, why }, 'backend removed');
    this.#changed();
  }

  /** A backend's health or ejection state changed (the candidate sets depend on it). */
  touch(): void {
    this.#changed();
  }

  /** Every backend that serves `model` (any state), in discovery order. */
  servingModel(model: string): Backend[] {
    if (this.#byModelVersion !== this.#version) {
      this.#byModel = new Map();
      this.#byModelVersion = this.#version;
    }
    let list = this.#byModel.get(model);
    if (!list) {
      list = [];
      for (const b of this.backends.values()) if (b.serves(model)) list.push(b);
      this.#byModel.set(model, list);
    }
    return list;
  }

  /**
   * Candidates for a request: up, not ejected, serving the model (any backend when no model was
   * given), able to serve the endpoint, not already tried; only the best (lowest) priority group
   * that has any.
   */
  candidates(model: string | undefined, endpoint: Endpoint, tried?: ReadonlySet<Backend>): Backend[] {
    const pool = model === undefined ? this.backends.values() : this.servingModel(model);
    let best = Infinity;
    let out: Backend[] = [];
    for (const b of pool) {
      if (!b.up || !b.passive.routable || !kindServes(b.kind, endpoint) || tried?.has(b)) continue;
      if (b.priority < best) {
        best = b.priority;
        out = [b];
      } else if (b.priority === best) out.push(b);
    }
    return out;
  }

  /** May this backend be ejected without passing the cap on any model it serves? */
  canEject(b: Backend): boolean {
    const share = this.config.passiveHealth.maxEjectedShare;
    for (const m of b.models) {
      const all = this.servingModel(m);
      let out = 0;
      for (const x of all) if (!x.passive.routable) out++;
      if ((out + 1) / all.length > share) return false;
    }
    return true;
  }

  /** Models served by at least one known backend. */
  models(): string[] {
    const s = new Set<string>();
    for (const b of this.backends.values()) for (const m of b.models) s.add(m);
    return [...s];
  }
}
