// What "ready" means for each process of a fleet, checked over HTTP the way an operator would:
// the registry answers /health; an agent's engines are all ready (its /health) and the engine's
// record is in the registry, healthy; the router lists every model and reports readiness ok.
import { describeError, requestJson, systemClock, type Clock } from '../../core/index.js';
import type { PlannedProcess } from './plan.js';

/** A check: true when ready, otherwise what is still missing (for the time-out message). */
export type Check = () => Promise<true | string>;

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Resolves if the process exits meanwhile (with a description): the wait fails at once. */
  exited?: Promise<string> | undefined;
  intervalMs?: number;
  clock?: Clock;
}

export type WaitResult = { ok: true } | { ok: false; reason: string };

/** Polls check until it passes, the time-out, an exit or an abort; never throws. */
export async function waitUntil(check: Check, opts: WaitOptions): Promise<WaitResult> {
  const clock = opts.clock ?? systemClock;
  const deadline = clock.monotonic() + opts.timeoutMs;
  let exitReason: string | undefined;
  void opts.exited?.then((r) => (exitReason = r));
  let last = 'no answer yet';
  for (;;) {
    if (exitReason !== undefined) return { ok: false, reason: exitReason };
    if (opts.signal?.aborted) return { ok: false, reason: 'interrupted' };
    try {
      const r = await check();
      if (r === true) return { ok: true };
      last = r;
    } catch (err) {
      last = describeError(err);
    }
    if (clock.monotonic() >= deadline) return { ok: false, reason: `not ready after ${Math.round(opts.timeoutMs / 1000)} s: ${last}` };
    await clock.sleep(opts.intervalMs ?? 150);
  }
}

async function getJson<T>(url: string): Promise<{ status: number; body: T | undefined }> {
  const res = await requestJson<T>(url, { timeoutMs: 2000 });
  return { status: res.status, body: res.body };
}

export function registryReady(p: PlannedProcess): Check {
  return async () => {
    const r = await getJson<{ status?: string }>(`${p.url}/health`);
    return r.status === 200 ? true : `GET ${p.url}/health answered ${r.status}`;
  };
}

interface AgentHealth {
  engines?: { total?: number; ready?: number };
}

/** The agent's engines all ready, and (when there is a registry) the engine record there and healthy. */
export function agentReady(p: PlannedProcess, registryUrl: string | undefined): Check {
  return async () => {
    const r = await getJson<AgentHealth>(`${p.url}/health`);
    const e = r.body?.engines;
    if (r.status !== 200 || !e) return `GET ${p.url}/health answered ${r.status}`;
    if (!e.total || (e.ready ?? 0) < e.total) return `engines ready: ${e.ready ?? 0} of ${e.total ?? 0}`;
    if (!registryUrl || !p.engine) return true;
    const rec = await getJson<{ is_healthy?: boolean; status?: string }>(`${registryUrl}/services/${encodeURIComponent(p.engine.recordName)}`);
    if (rec.status === 404) return `${p.engine.recordName} not registered in ${registryUrl} yet`;
    if (rec.body?.is_healthy !== true) return `${p.engine.recordName} is registered but not healthy (status ${rec.body?.status ?? rec.status})`;
    return true;
  };
}

interface ReadyBody {
  status?: string;
  reasons?: string[];
}

/** The router lists every expected model and reports readiness "ok". */
export function routerReady(p: PlannedProcess, models: readonly string[]): Check {
  return async () => {
    const list = await getJson<{ data?: { id?: string }[] }>(`${p.url}/v1/models`);
    const have = new Set((list.body?.data ?? []).map((m) => m.id));
    const missing = models.filter((m) => !have.has(m));
    if (missing.length > 0) return `GET /v1/models does not list ${missing.join(', ')} yet`;
    const ready = await getJson<ReadyBody>(`${p.url}/health/ready`);
    if (ready.body?.status !== 'ok') return `GET /health/ready: ${ready.body?.status ?? ready.status}${ready.body?.reasons?.length ? ` (${ready.body.reasons.join('; ')})` : ''}`;
    return true;
  };
}

/** The router answers at all (fleet start-router may run before any engine exists). */
export function routerLive(p: PlannedProcess): Check {
  return async () => {
    const r = await getJson(`${p.url}/health/live`);
    return r.status === 200 ? true : `GET ${p.url}/health/live answered ${r.status}`;
  };
}

/** Models and engine PIDs an agent reports (TorchServe-style describe of its model). */
export async function agentEngines(p: PlannedProcess): Promise<{ pids: number[]; models: string[] }> {
  const r = await getJson<{ servedModels?: string[]; workers?: { pid?: number | null }[] }[]>(`${p.url}/models/${encodeURIComponent(p.name)}`);
  const pids: number[] = [];
  const models: string[] = [];
  for (const m of Array.isArray(r.body) ? r.body : []) {
    for (const w of m.workers ?? []) if (typeof w.pid === 'number') pids.push(w.pid);
    for (const id of m.servedModels ?? []) if (!models.includes(id)) models.push(id);
  }
  return { pids, models };
}
