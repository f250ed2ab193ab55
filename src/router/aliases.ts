// Model aliases and canary splits. An alias maps the name a client asks for to the name a backend
// serves (`bge-m3` → `BAAI/bge-m3`); a split maps it to weighted variants (`chat` → 90 % chat-v1,
// 10 % chat-v2), optionally sticky per API key or session. The guard watches a split's canary
// against its baseline over a window and takes the canary's weight to zero when it does worse by
// more than the configured margin, saying why.
import type { Clock, Logger, Random } from '../core/index.js';
import { hash32 } from './balancers/consistent-hash.js';
import type { RouterConfig } from './config.js';

type AliasSplit = Exclude<RouterConfig['aliases'][string], string>;
import type { RouterEvents } from './events.js';
import type { Exchange } from './exchange.js';

export interface Resolution {
  model: string;
  /** The variant's model when the alias is a split, else "". */
  variant: string;
}

interface Window {
  /** per-second buckets: [second, requests, errors, latency sum ms] */
  buckets: Map<number, { n: number; errors: number; latencyMs: number }>;
}

export class Aliases {
  #config: RouterConfig['aliases'] = {};
  /** Variants the guard has switched off, per alias. */
  readonly #disabled = new Map<string, Set<string>>();
  readonly #windows = new Map<string, Window>();

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly log: Logger,
    private readonly events: RouterEvents,
  ) {}

  update(aliases: RouterConfig['aliases']): void {
    this.#config = aliases;
    // a changed config is a new decision: the guard starts over
    this.#disabled.clear();
    this.#windows.clear();
  }

  get any(): boolean {
    for (const _ in this.#config) return true;
    return false;
  }

  has(name: string): boolean {
    return Object.hasOwn(this.#config, name);
  }

  resolve(name: string, stickyKey: { key?: string | undefined; session?: string | undefined }): Resolution {
    const a = this.#config[name];
    if (a === undefined) return { model: name, variant: '' };
    if (typeof a === 'string') return { model: a, variant: '' };
    const off = this.#disabled.get(name);
    const variants = a.variants.map((v) => ({ model: v.model, weight: off?.has(v.model) ? 0 : v.weight }));
    let total = 0;
    for (const v of variants) total += v.weight;
    if (total <= 0) return { model: variants[0]!.model, variant: variants[0]!.model };
    const sticky = a.sticky;
    const k = sticky === 'key' ? stickyKey.key : sticky === 'session' ? stickyKey.session : undefined;
    const x = k !== undefined ? (hash32(`${name}\u0000${k}`) / 0x100000000) * total : this.random.next() * total;
    let acc = 0;
    for (const v of variants) {
      acc += v.weight;
      if (x < acc) return { model: v.model, variant: v.model };
    }
    const last = variants.at(-1)!;
    return { model: last.model, variant: last.model };
  }

  /** Feeds the guard (called for every finished request). */
  observe(ex: Exchange): void {
    const name = ex.info.model;
    if (name === undefined || ex.variant === '' || ex.clientGone) return;
    const a = this.#config[name];
    if (a === undefined || typeof a === 'string' || !a.guard) return;
    const w = this.#window(`${name}\u0000${ex.variant}`);
    const sec = Math.floor(this.clock.now() / 1000);
    let b = w.buckets.get(sec);
    if (!b) {
      b = { n: 0, errors: 0, latencyMs: 0 };
      w.buckets.set(sec, b);
    }
    b.n++;
    if (ex.status >= 500 || ex.status === 0) b.errors++;
    b.latencyMs += this.clock.monotonic() - ex.startMono;
    if (ex.variant === a.guard.canary) this.#check(name, a);
  }

  #window(id: string): Window {
    let w = this.#windows.get(id);
    if (!w) {
      w = { buckets: new Map() };
      this.#windows.set(id, w);
    }
    return w;
  }

  #stats(id: string, windowMs: number): { n: number; errorRate: number; meanMs: number } {
    const w = this.#window(id);
    const from = Math.floor((this.clock.now() - windowMs) / 1000);
    let n = 0;
    let errors = 0;
    let lat = 0;
    for (const [sec, b] of w.buckets) {
      if (sec <= from) {
        w.buckets.delete(sec);
        continue;
      }
      n += b.n;
      errors += b.errors;
      lat += b.latencyMs;
    }
    return { n, errorRate: n === 0 ? 0 : errors / n, meanMs: n === 0 ? 0 : lat / n };
  }

  #check(name: string, a: AliasSplit): void {
    const g = a.guard!;
    if (this.#disabled.get(name)?.has(g.canary)) return;
    const c = this.#stats(`${name}\u0000${g.canary}`, g.windowMs);
    const base = this.#stats(`${name}\u0000${g.baseline}`, g.windowMs);
    if (c.n < g.minRequests || base.n < g.minRequests) return;
    let why: string | undefined;
    if (c.errorRate > base.errorRate + g.maxErrorRateDelta) {
      why = `error rate ${(c.errorRate * 100).toFixed(1)}% vs baseline ${(base.errorRate * 100).toFixed(1)}% (allowed +${(g.maxErrorRateDelta * 100).toFixed(1)} points)`;
    } else if (base.meanMs > 0 && c.meanMs > base.meanMs * g.maxLatencyRatio) {
      why = `mean latency ${c.meanMs.toFixed(0)} ms vs baseline ${base.meanMs.toFixed(0)} ms (allowed ×${g.maxLatencyRatio})`;
    }
    if (!why) return;
    let off = this.#disabled.get(name);
    if (!off) {
      off = new Set();
      this.#disabled.set(name, off);
    }
    off.add(g.canary);
    this.log.warn({ alias: name, canary: g.canary, baseline: g.baseline, canaryRequests: c.n, baselineRequests: base.n, why }, 'canary guard: canary weight set to 0');
    this.events.add('failover', g.canary, name, `canary guard took ${g.canary} out of ${name}: ${why}`);
  }

  /** Current weights per alias (after the guard), for /services and the dashboard. */
  state(): Record<string, { model: string; weight: number; disabled: boolean }[] | string> {
    const out: Record<string, { model: string; weight: number; disabled: boolean }[] | string> = {};
    for (const [name, a] of Object.entries(this.#config)) {
      if (typeof a === 'string') out[name] = a;
      else out[name] = a.variants.map((v) => ({ model: v.model, weight: this.#disabled.get(name)?.has(v.model) ? 0 : v.weight, disabled: this.#disabled.get(name)?.has(v.model) ?? false }));
    }
    return out;
  }
}
