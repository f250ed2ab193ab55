// `switchboard status`: one look at the fleet from the registry (records, leases, probes, load)
// and the router (its view of each backend, counters, readiness), merged per service, with a
// verdict a cron job can act on: `ok` is false when a part is unreachable, a service that should
// serve does not, or the router is not ready. Reads only; never throws for a fleet that is down.
import { describeError, requestJson, type Clock } from '../core/index.js';
import { RegistryClient } from '../registry/client.js';
import type { ServiceLoad, ServiceRecord } from '../registry/record.js';

export interface StatusOptions {
  registryUrl?: string | undefined;
  routerUrl?: string | undefined;
  /** Bearer token: the router's admin token (/stats), also sent to the registry. */
  token?: string | undefined;
  timeoutMs: number;
  clock: Clock;
}

export interface RegistryPart {
  url: string;
  reachable: boolean;
  /** /health `status` ("healthy", or "unhealthy" when its store is down). */
  status: string | null;
  registered: number | null;
  healthy: number | null;
  store: string | null;
  error: string | null;
}

export interface RouterPart {
  url: string;
  reachable: boolean;
  status: string | null;
  readiness: 'ok' | 'degraded' | 'unavailable' | null;
  reasons: string[];
  /** Degraded only by backends that left the registry (see readinessCounts): not a problem. */
  readinessDiscounted: boolean;
  registry: { url: string | null; connected: boolean; mode: string } | null;
  totalServices: number | null;
  healthyServices: number | null;
  error: string | null;
}

/** The router's /stats entry for one backend (the fields status reads). */
interface RouterService {
  name: string;
  url: string;
  healthy: boolean;
  state: string;
  request_count: number;
  error_count: number;
  response_time: number;
  in_flight: number;
  models: string[];
  load: ServiceLoad | null;
  priority: number;
  metadata?: Record<string, unknown>;
}

export interface ServiceStatus {
  name: string;
  url: string | null;
  type: string | null;
  models: string[];
  /** up | unhealthy | stale | ejected | probing | draining | <registry status> | gone (left the registry; the router holds it for its grace period) */
  state: string;
  /** False when the service should serve and does not (counts toward the exit code). */
  ok: boolean;
  problem: string | null;
  registry: { status: string; healthStatus: string; isHealthy: boolean; heartbeatAgeS: number; leaseTtlS: number } | null;
  router: { state: string; healthy: boolean; requests: number; errors: number; inFlight: number; responseTimeS: number; priority: number } | null;
  load: { running: number | null; waiting: number | null; kvCacheUsage: number | null } | null;
}

export interface FleetStatus {
  ok: boolean;
  checkedAt: string;
  registry: RegistryPart | null;
  router: RouterPart | null;
  services: ServiceStatus[];
  summary: { services: number; up: number; down: number; other: number; requests: number; errors: number };
  problems: string[];
}

/** States that are deliberate (an operator or an agent put the service there), not failures. */
const DELIBERATE = new Set(['draining', 'maintenance', 'stopping', 'stopped', 'starting', 'gone']);

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

async function readRegistry(url: string, opts: StatusOptions): Promise<{ part: RegistryPart; records: ServiceRecord[]; nowS: number }> {
  const client = new RegistryClient({ url, token: opts.token, timeoutMs: opts.timeoutMs });
  const part: RegistryPart = { url: client.url, reachable: false, status: null, registered: null, healthy: null, store: null, error: null };
  let nowS = opts.clock.now() / 1000;
  try {
    const res = await requestJson<Record<string, unknown>>(`${client.url}/health`, { timeoutMs: opts.timeoutMs });
    part.reachable = true;
    part.status = str(res.body?.status) ?? `HTTP ${res.status}`;
    part.registered = num(res.body?.registered_services);
    part.healthy = num(res.body?.healthy_services);
    part.store = str(res.body?.store);
    if (res.status !== 200) part.error = str(res.body?.error) ?? `/health answered ${res.status}`;
    // heartbeat ages from the registry's clock, so a skewed local clock does not age them
    const ts = Date.parse(str(res.body?.timestamp) ?? '');
    if (Number.isFinite(ts)) nowS = ts / 1000;
  } catch (err) {
    part.error = `unreachable: ${describeError(err)}`;
    return { part, records: [], nowS };
  }
  try {
    return { part, records: (await client.list()).services, nowS };
  } catch (err) {
    part.error = `GET /services failed: ${describeError(err)}`;
    return { part, records: [], nowS };
  }
}

async function readRouter(url: string, opts: StatusOptions): Promise<{ part: RouterPart; services: RouterService[] }> {
  const base = url.replace(/\/+$/, '');
  const part: RouterPart = { url: base, reachable: false, status: null, readiness: null, reasons: [], readinessDiscounted: false, registry: null, totalServices: null, healthyServices: null, error: null };
  const get = <T>(path: string, auth = false): Promise<{ status: number; body: T }> =>
    requestJson<T>(base + path, { timeoutMs: opts.timeoutMs, token: auth ? opts.token : undefined });
  try {
    const health = await get<Record<string, unknown>>('/health');
    part.reachable = true;
    part.status = str(health.body?.status) ?? `HTTP ${health.status}`;
  } catch (err) {
    part.error = `unreachable: ${describeError(err)}`;
    return { part, services: [] };
  }
  const errors: string[] = [];
  const [ready, stats] = await Promise.allSettled([
    get<{ status?: string; reasons?: unknown; registry?: RouterPart['registry'] }>('/health/ready'),
    get<{ total_services?: number; healthy_services?: number; services?: RouterService[]; error?: { message?: string } }>('/stats', true),
  ]);
  if (ready.status === 'fulfilled') {
    const r = ready.value.body;
    const s = r?.status;
    part.readiness = s === 'ok' || s === 'degraded' || s === 'unavailable' ? s : null;
    part.reasons = Array.isArray(r?.reasons) ? r.reasons.filter((x): x is string => typeof x === 'string') : [];
    part.registry = r?.registry ?? null;
    if (part.readiness === null) errors.push(`/health/ready answered ${ready.value.status} without a readiness`);
  } else errors.push(`/health/ready failed: ${describeError(ready.reason)}`);
  let services: RouterService[] = [];
  if (stats.status === 'fulfilled' && stats.value.status === 200) {
    part.totalServices = num(stats.value.body?.total_services);
    part.healthyServices = num(stats.value.body?.healthy_services);
    services = Array.isArray(stats.value.body?.services) ? stats.value.body.services : [];
  } else if (stats.status === 'fulfilled') {
    const why = stats.value.body?.error?.message ?? `HTTP ${stats.value.status}`;
    errors.push(stats.value.status === 401 ? `/stats needs the router's admin token (--token): ${why}` : `/stats answered ${stats.value.status}: ${why}`);
  } else errors.push(`/stats failed: ${describeError(stats.reason)}`);
  if (errors.length > 0) part.error = errors.join('; ');
  return { part, services };
}

function loadOf(l: ServiceLoad | null | undefined): ServiceStatus['load'] {
  if (!l) return null;
  return { running: num(l.running), waiting: num(l.waiting), kvCacheUsage: num(l.kv_cache_usage) };
}

/** The registry's view alone: up, or why not. */
function registryState(r: ServiceRecord): { state: string; problem: string | null } {
  if (r.is_healthy) return { state: 'up', problem: null };
  if (r.status !== 'running') return { state: r.status, problem: DELIBERATE.has(r.status) ? null : `registry: status ${r.status}` };
  if (r.health_status === 'unhealthy') return { state: 'unhealthy', problem: 'registry: active health probe failing' };
  return { state: 'stale', problem: `registry: lease expired (no heartbeat for longer than ${r.lease_ttl}s)` };
}

/**
 * `listed`: the registry's list was read, so a router backend missing from it really left it.
 * Such a backend stays in the router's table, unrouted, for its removal grace period: shown as
 * `gone`, not a problem (a DELETE or an agent's drain put it there).
 */
function mergeService(name: string, r: ServiceRecord | undefined, s: RouterService | undefined, nowS: number, listed: boolean): ServiceStatus {
  const problems: string[] = [];
  let state = 'unknown';
  if (r) {
    const v = registryState(r);
    state = v.state;
    if (v.problem) problems.push(v.problem);
  }
  if (s) {
    // the router's word wins for the state: it is what requests see
    state = s.state;
    const deliberate = DELIBERATE.has(s.state) || (r !== undefined && DELIBERATE.has(r.status));
    if (!r && listed && !s.healthy) state = 'gone';
    else if (s.state !== 'up' && !deliberate) problems.push(`router: ${s.state}`);
  }
  const metadata = r?.metadata ?? s?.metadata ?? {};
  const models = s?.models ?? (Array.isArray(metadata.models) ? metadata.models.filter((m): m is string => typeof m === 'string') : []);
  return {
    name,
    url: r?.url ?? s?.url ?? null,
    type: str(metadata.type),
    models,
    state,
    ok: problems.length === 0,
    problem: problems.length > 0 ? problems.join('; ') : null,
    registry: r
      ? { status: r.status, healthStatus: r.health_status, isHealthy: r.is_healthy, heartbeatAgeS: Math.max(0, Math.round((nowS - r.last_heartbeat) * 10) / 10), leaseTtlS: r.lease_ttl }
      : null,
    router: s
      ? { state: s.state, healthy: s.healthy, requests: s.request_count, errors: s.error_count, inFlight: s.in_flight, responseTimeS: s.response_time, priority: s.priority }
      : null,
    load: loadOf(r?.load ?? s?.load),
  };
}

/**
 * Whether a "degraded" readiness is worth an alarm. The router counts the backends it keeps
 * through their removal grace period as down ("model m: 1 of 3 backends down" for a minute after
 * every drain or `switchboard validate`); a model reason whose down backends are all `gone` is
 * that, not an outage. Any other reason (the registry unreachable, ...) counts.
 */
function readinessCounts(reasons: readonly string[], routed: readonly RouterService[], merged: readonly ServiceStatus[]): boolean {
  const gone = new Set(merged.filter((m) => m.state === 'gone').map((m) => m.name));
  return reasons.some((reason) => {
    const model = /^model (.+?): /.exec(reason)?.[1];
    if (model === undefined) return true;
    return routed.some((b) => b.models.includes(model) && !b.healthy && !gone.has(b.name));
  });
}

/** Reads the registry and the router (whichever are given, at the same time) and judges the fleet. */
export async function collectStatus(opts: StatusOptions): Promise<FleetStatus> {
  const [reg, rt] = await Promise.all([
    opts.registryUrl ? readRegistry(opts.registryUrl, opts) : undefined,
    opts.routerUrl ? readRouter(opts.routerUrl, opts) : undefined,
  ]);
  const records = new Map((reg?.records ?? []).map((r) => [r.name, r]));
  const routed = new Map((rt?.services ?? []).map((s) => [s.name, s]));
  const names = [...new Set([...records.keys(), ...routed.keys()])].sort();
  const nowS = reg?.nowS ?? opts.clock.now() / 1000;
  const services = names.map((n) => mergeService(n, records.get(n), routed.get(n), nowS, reg !== undefined && reg.part.error === null));

  const problems: string[] = [];
  if (reg) {
    if (reg.part.error) problems.push(`registry ${reg.part.url}: ${reg.part.error}`);
    else if (reg.part.status !== 'healthy') problems.push(`registry ${reg.part.url}: status ${reg.part.status ?? 'unknown'}`);
  }
  if (rt) {
    if (rt.part.error) problems.push(`router ${rt.part.url}: ${rt.part.error}`);
    const counts = rt.part.readiness === 'unavailable' || (rt.part.readiness === 'degraded' && readinessCounts(rt.part.reasons, rt.services, services));
    rt.part.readinessDiscounted = rt.part.readiness === 'degraded' && !counts;
    if (counts) {
      problems.push(`router ${rt.part.url}: readiness ${rt.part.readiness}${rt.part.reasons.length > 0 ? ` (${rt.part.reasons.join('; ')})` : ''}`);
    }
  }
  for (const s of services) if (!s.ok) problems.push(`${s.name}: ${s.problem ?? s.state}`);
  if (services.length === 0 && problems.length === 0) problems.push('no services: the fleet serves nothing');

  let up = 0;
  let down = 0;
  let requests = 0;
  let errors = 0;
  for (const s of services) {
    if (!s.ok) down++;
    else if (s.state === 'up') up++;
    requests += s.router?.requests ?? 0;
    errors += s.router?.errors ?? 0;
  }
  return {
    ok: problems.length === 0,
    checkedAt: new Date(opts.clock.now()).toISOString(),
    registry: reg?.part ?? null,
    router: rt?.part ?? null,
    services,
    summary: { services: services.length, up, down, other: services.length - up - down, requests, errors },
    problems,
  };
}
