// The router's own endpoints: InfiniLM's /health (/status), /services, /stats and the model list
// (/models and /v1/models, aggregated from healthy backends), plus liveness, readiness
// (ok / degraded / unavailable) and /metrics.
import type { ServerResponse } from 'node:http';
import { METRICS_CONTENT_TYPE, sendJson, sendText, type Clock } from '../core/index.js';
import type { Backend } from './backend.js';
import type { RouterMetrics } from './metrics.js';
import type { ServiceTable } from './table.js';

export interface RegistryState {
  url: string | undefined;
  connected: boolean;
  mode: string;
}

export type Readiness = 'ok' | 'degraded' | 'unavailable';

export class Admin {
  constructor(
    private readonly table: ServiceTable,
    private readonly metrics: RouterMetrics,
    private readonly clock: Clock,
    private readonly registry: () => RegistryState,
  ) {}

  #routable(b: Backend): boolean {
    return b.up && b.passive.routable;
  }

  #serviceJson(b: Backend): Record<string, unknown> {
    return {
      name: b.name,
      host: b.host,
      port: b.port,
      url: b.url,
      babysitter_url: b.babysitterUrl,
      healthy: this.#routable(b),
      request_count: b.requestCount,
      error_count: b.errorCount,
      response_time: Math.round(b.responseTime * 1e6) / 1e6,
      weight: b.weight,
      models: b.models,
      metadata: b.metadata,
      // ours
      state: this.stateOf(b),
      in_flight: b.inFlight,
      priority: b.priority,
      ejections: b.passive.ejections,
      load: b.load ?? null,
    };
  }

  /** up | ejected | probing | draining | unhealthy | gone (left the registry; kept for the grace period) */
  stateOf(b: Backend): string {
    if (this.table.gone(b)) return 'gone';
    if (b.passive.state !== 'ok') return b.passive.state;
    if (b.status !== 'running') return b.status;
    if (!b.registryHealthy || !b.activeHealthy) return 'unhealthy';
    return 'up';
  }

  health(res: ServerResponse): void {
    const all = [...this.table.backends.values()];
    const healthy = all.filter((b) => this.#routable(b)).length;
    const reg = this.registry();
    sendJson(res, 200, {
      status: healthy > 0 ? 'healthy' : 'running',
      router: 'running',
      healthy_services: `${healthy}/${all.length}`,
      registry_url: reg.url ?? null,
      message: healthy > 0 ? null : 'No healthy services available',
      timestamp: new Date(this.clock.now()).toISOString(),
      readiness: this.readiness().status,
    });
  }

  live(res: ServerResponse): void {
    sendJson(res, 200, { status: 'ok' });
  }

  /** ok: every served model has all its backends routable and the registry is reachable; degraded: something is down but every model is still served; unavailable: nothing is routable. */
  readiness(): { status: Readiness; reasons: string[]; models: Record<string, { routable: number; total: number }> } {
    const reasons: string[] = [];
    const models: Record<string, { routable: number; total: number }> = {};
    let anyRoutable = false;
    for (const b of this.table.backends.values()) {
      // a backend that left the registry on purpose (drained, deregistered) is not "down"
      if (this.table.gone(b)) continue;
      const ok = this.#routable(b);
      if (ok) anyRoutable = true;
      for (const m of b.models) {
        const e = (models[m] ??= { routable: 0, total: 0 });
        e.total++;
        if (ok) e.routable++;
      }
    }
    for (const [m, e] of Object.entries(models)) {
      if (e.routable === 0) reasons.push(`model ${m}: no routable backend`);
      else if (e.routable < e.total) reasons.push(`model ${m}: ${e.total - e.routable} of ${e.total} backends down`);
    }
    const reg = this.registry();
    if (reg.url && !reg.connected) reasons.push(`registry ${reg.url} unreachable: routing on the last known services`);
    const status: Readiness = !anyRoutable ? 'unavailable' : reasons.length > 0 ? 'degraded' : 'ok';
    return { status, reasons, models };
  }

  ready(res: ServerResponse): void {
    const r = this.readiness();
    if (r.status !== 'ok') this.metrics.readinessDegraded.inc();
    const reg = this.registry();
    sendJson(res, r.status === 'unavailable' ? 503 : 200, { ...r, registry: { url: reg.url ?? null, connected: reg.connected, mode: reg.mode } });
  }

  services(res: ServerResponse): void {
    const services = [...this.table.backends.values()].map((b) => this.#serviceJson(b));
    sendJson(res, 200, { services, total: services.length, registry_url: this.registry().url ?? null });
  }

  stats(res: ServerResponse): void {
    const all = [...this.table.backends.values()];
    sendJson(res, 200, {
      total_services: all.length,
      healthy_services: all.filter((b) => this.#routable(b)).length,
      registry_url: this.registry().url ?? null,
      services: all.map((b) => ({ ...this.#serviceJson(b), last_check: b.lastCheckMs ? new Date(b.lastCheckMs).toISOString() : null })),
    });
  }

  /** InfiniLM §2.3: models_list elements with an id copied whole, else {"id"} per models entry; first wins. */
  modelList(): { object: 'list'; data: Record<string, unknown>[] } {
    const seen = new Set<string>();
    const data: Record<string, unknown>[] = [];
    for (const b of this.table.backends.values()) {
      if (!this.#routable(b)) continue;
      const list = b.metadata.models_list;
      if (Array.isArray(list) && list.length > 0) {
        for (const m of list) {
          if (typeof m === 'object' && m !== null && typeof (m as { id?: unknown }).id === 'string') {
            const id = (m as { id: string }).id;
            if (!seen.has(id)) {
              seen.add(id);
              data.push(m as Record<string, unknown>);
            }
          }
        }
      } else {
        for (const id of b.models) {
          if (!seen.has(id)) {
            seen.add(id);
            data.push({ id, object: 'model', owned_by: 'switchboard' });
          }
        }
      }
    }
    return { object: 'list', data };
  }

  models(res: ServerResponse): void {
    sendJson(res, 200, this.modelList());
  }

  metricsText(res: ServerResponse): void {
    sendText(res, 200, this.metrics.registry.render(), METRICS_CONTENT_TYPE);
  }
}
