// Active health probes. Every interval, each record is probed once: at a jittered moment inside
// the first half of the interval (1,000 probes never fire in the same millisecond), with at most
// `concurrency` in flight, and never twice at once (a slow record is skipped, not queued again).
// A record turns unhealthy after `fall` consecutive failures and healthy again after `rise`
// successes (a first success from "unknown" is enough). When several registries share a store,
// only the leader probes.
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { describeError, silentLogger, type Clock, type Logger, type Random, type TimerHandle } from '../core/index.js';
import type { HealthStatus, StoredService } from './record.js';
import type { RegistryStore } from './store/index.js';

export interface ProberOptions {
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  concurrency: number;
  clock: Clock;
  random: Random;
  logger?: Logger;
  /** Called with each probe's outcome (metrics). */
  onProbe?: (ok: boolean) => void;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** What a probe needs of a service (a registry record, or a router's backend). */
export type ProbeSubject = Pick<StoredService, 'host' | 'port' | 'url' | 'metadata'>;

/**
 * What to probe, in order: `metadata.health_url` when given; for `openai-api` records the
 * InfiniLM rule (the babysitter on port + 1), falling back to the backend's own `/health` when
 * nothing listens there; otherwise `<url>/health`.
 */
export function probeTargets(s: ProbeSubject): string[] {
  const custom = s.metadata.health_url;
  if (typeof custom === 'string' && custom.length > 0) return [custom];
  if (s.metadata.type === 'openai-api' && s.port < 65535) return [`http://${hostPort(s.host, s.port + 1)}/health`, `${s.url}/health`];
  return [`${s.url}/health`];
}

/** True when a record opted out of active probes (`metadata.health_check: false`). */
function probesDisabled(s: StoredService): boolean {
  return s.metadata.health_check === false;
}

async function get(url: string, timeoutMs: number): Promise<number> {
  const res = await request(url, { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
  await res.body.dump();
  return res.statusCode;
}

/** One probe: 2xx from the first target that answers. Connection refused moves on to the next. */
export async function probeService(s: ProbeSubject, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  const targets = probeTargets(s);
  let detail = '';
  for (const url of targets) {
    try {
      const status = await get(url, timeoutMs);
      return { ok: status >= 200 && status < 300, detail: `${url} answered ${status}` };
    } catch (err) {
      detail = `${url}: ${describeError(err)}`;
      if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED') break;
    }
  }
  return { ok: false, detail };
}

interface Streak {
  ok: number;
  fail: number;
}

export class Prober {
  readonly #store: RegistryStore;
  readonly #opts: ProberOptions;
  readonly #log: Logger;
  readonly #holder = randomBytes(8).toString('hex');
  readonly #streaks = new Map<string, Streak>();
  readonly #busy = new Set<string>();
  readonly #queue: StoredService[] = [];
  readonly #timers = new Set<TimerHandle>();
  #running = 0;
  #round: TimerHandle | undefined;
  #closed = false;

  constructor(store: RegistryStore, opts: ProberOptions) {
    this.#store = store;
    this.#opts = opts;
    this.#log = opts.logger ?? silentLogger;
  }

  start(): void {
    this.#schedule(this.#opts.random.next() * Math.min(this.#opts.intervalMs, 1000));
  }

  close(): void {
    this.#closed = true;
    this.#round?.cancel();
    for (const t of this.#timers) t.cancel();
    this.#timers.clear();
    this.#queue.length = 0;
  }

  /** Probes one record now and records the verdict at once (GET /services/{name}/health). */
  async checkNow(s: StoredService): Promise<{ ok: boolean; status: HealthStatus }> {
    const { ok } = await probeService(s, this.#opts.timeoutMs);
    this.#opts.onProbe?.(ok);
    this.#streaks.set(s.name, ok ? { ok: this.#opts.rise, fail: 0 } : { ok: 0, fail: this.#opts.fall });
    const status: HealthStatus = ok ? 'healthy' : 'unhealthy';
    await this.#store.setHealth(s.name, status, ok ? this.#opts.clock.now() : undefined);
    return { ok, status };
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    this.#round = this.#opts.clock.setTimeout(() => void this.#runRound(), delayMs);
  }

  async #runRound(): Promise<void> {
    try {
      if (await this.#store.tryLead(this.#holder, this.#opts.intervalMs * 3)) {
        const services = await this.#store.list();
        const live = new Set(services.map((s) => s.name));
        for (const name of this.#streaks.keys()) if (!live.has(name)) this.#streaks.delete(name);
        const spread = Math.min(this.#opts.intervalMs / 2, 10_000);
        for (const s of services) {
          if (this.#busy.has(s.name) || probesDisabled(s)) continue;
          this.#busy.add(s.name);
          const t = this.#opts.clock.setTimeout(() => {
            this.#timers.delete(t);
            this.#queue.push(s);
            this.#pump();
          }, this.#opts.random.next() * spread);
          this.#timers.add(t);
        }
      }
    } catch (err) {
      this.#log.warn({ err: describeError(err) }, 'probe round skipped: store unavailable');
    }
    this.#schedule(this.#opts.intervalMs);
  }

  #pump(): void {
    while (!this.#closed && this.#running < this.#opts.concurrency && this.#queue.length > 0) {
      const s = this.#queue.shift()!;
      this.#running++;
      void this.#probe(s).finally(() => {
        this.#running--;
        this.#busy.delete(s.name);
        this.#pump();
      });
    }
  }

  async #probe(s: StoredService): Promise<void> {
    const { ok, detail } = await probeService(s, this.#opts.timeoutMs);
    if (this.#closed) return;
    this.#opts.onProbe?.(ok);
    const st = this.#streaks.get(s.name) ?? { ok: 0, fail: 0 };
    this.#streaks.set(s.name, st);
    if (ok) {
      st.ok++;
      st.fail = 0;
    } else {
      st.fail++;
      st.ok = 0;
    }
    let next: HealthStatus | undefined;
    if (ok && s.healthStatus !== 'healthy' && (s.healthStatus === 'unknown' || st.ok >= this.#opts.rise)) next = 'healthy';
    if (!ok && s.healthStatus !== 'unhealthy' && st.fail >= this.#opts.fall) next = 'unhealthy';
    if (!next) return;
    try {
      await this.#store.setHealth(s.name, next);
      this.#log[ok ? 'info' : 'warn']({ service: s.name, health: next, detail }, `service ${s.name} is now ${next}`);
    } catch (err) {
      this.#log.warn({ err: describeError(err), service: s.name }, 'could not record probe result');
    }
  }
}
