// The router's own health checks, by the registry's probe rule (registry/prober.ts:
// metadata.health_url, else the babysitter on port + 1, then the backend's /health).
// Registry-discovered backends are probed by the registry (its verdict arrives as is_healthy);
// the router probes (1) static services, every health interval,
// as InfiniLM's router did, and (2) ejected backends when their ejection ends: one good probe
// re-admits, a failed one ejects again for longer.
import type { Clock, Logger, TimerHandle } from '../core/index.js';
import { probeService } from '../registry/prober.js';
import type { Backend } from './backend.js';
import type { RouterEvents } from './events.js';
import type { ServiceTable } from './table.js';

export class HealthChecker {
  readonly #timers = new Set<TimerHandle>();
  #interval: TimerHandle | undefined;
  #closed = false;

  constructor(
    private readonly table: ServiceTable,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly events?: RouterEvents,
  ) {}

  start(): void {
    const tick = (): void => {
      if (this.#closed) return;
      void this.checkStatic().finally(() => {
        if (!this.#closed) this.#interval = this.clock.setTimeout(tick, this.intervalMs);
      });
    };
    this.#interval = this.clock.setTimeout(tick, this.intervalMs);
  }

  /** One round of checks of the static services. */
  async checkStatic(): Promise<void> {
    const statics = [...this.table.backends.values()].filter((b) => b.isStatic && b.metadata.health_check !== false);
    await Promise.all(
      statics.map(async (b) => {
        const { ok, detail } = await probeService(b, this.timeoutMs);
        b.lastCheckMs = this.clock.now();
        if (ok !== b.activeHealthy) {
          b.activeHealthy = ok;
          this.table.touch();
          if (ok) this.log.info({ backend: b.name }, 'static backend healthy again');
          else this.log.warn({ backend: b.name, detail }, 'static backend failed its health check');
        }
      }),
    );
  }

  /** Schedules the re-admission probe of a backend ejected for durationMs. */
  scheduleReadmission(b: Backend, durationMs: number): void {
    if (this.#closed) return;
    const t = this.clock.setTimeout(() => {
      this.#timers.delete(t);
      void this.#readmit(b);
    }, durationMs);
    this.#timers.add(t);
  }

  async #readmit(b: Backend): Promise<void> {
    if (this.#closed || !this.table.backends.has(b.name)) return;
    b.passive.startProbing();
    const { ok, detail } = await probeService(b, this.timeoutMs);
    if (this.#closed) return;
    if (ok) {
      b.passive.readmit();
      this.table.touch();
      this.log.info({ backend: b.name }, 'backend re-admitted after a good probe');
      this.events?.add('readmission', b.name, undefined, detail);
    } else {
      const d = b.passive.probeFailed();
      this.log.warn({ backend: b.name, detail, ejectMs: d }, 'backend failed its re-admission probe; ejected again');
      this.scheduleReadmission(b, d);
    }
  }

  close(): void {
    this.#closed = true;
    this.#interval?.cancel();
    for (const t of this.#timers) t.cancel();
    this.#timers.clear();
  }
}
