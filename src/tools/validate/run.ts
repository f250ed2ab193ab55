// What the steps of `switchboard validate` share: the options, the fleet under test, the test
// backends and what has been registered (so clean-up knows what to undo), and small helpers that
// turn a bad answer into a FAIL reason (SB_ERR_CHECK_FAILED).
import { describeError, sbError, type Clock } from '../../core/index.js';
import type { Fleet, FleetProcess } from './fleet.js';
import { http, type HttpResult } from './http.js';

export interface ValidateOptions {
  /** A running fleet; both or neither (then a fleet is started: selfContained). */
  registryUrl?: string | undefined;
  routerUrl?: string | undefined;
  selfContained: boolean;
  /** Registry write token (POST/DELETE of the test records). */
  token?: string | undefined;
  /** Router admin token (/services, /stats). */
  adminToken?: string | undefined;
  /** Router API key (/v1/*), when the router requires keys. */
  apiKey?: string | undefined;
  /** Address the test backends bind and register under; the router must reach it. */
  backendHost: string;
  /** Models of the fleet itself to check through the router (chat, stream). */
  models: string[];
  /** Longest wait for the router to see the registered test backends. */
  discoveryTimeoutMs: number;
  /** Longest wait, after a DELETE, for the router to stop routing to that backend. */
  removalTimeoutMs: number;
  /** Timeout of each HTTP call. */
  timeoutMs: number;
  /** Suffix of the test backends' names and models (random by default). */
  id: string;
  clock: Clock;
}

export interface TestBackend {
  name: string;
  url: string;
  host: string;
  port: number;
  models: string[];
  proc: FleetProcess;
}

export interface Run {
  readonly o: ValidateOptions;
  readonly fleet: Fleet;
  /** The model both test backends serve (round robin is checked on it). */
  readonly model: string;
  registryUrl: string;
  routerUrl: string;
  backends: TestBackend[];
  /** Records this run registered and has not removed yet. */
  readonly registered: Set<string>;
  /** Whether the router was seen routing to the test backends (clean-up checks it stops). */
  discovered: boolean;
  signal: AbortSignal;
}

export function fail(detail: string): never {
  throw sbError('SB_ERR_CHECK_FAILED', detail);
}

/** An HTTP call whose transport failure is a FAIL naming the URL. */
export async function call(run: Run, url: string, init: { method?: string; body?: unknown; token?: string | undefined } = {}): Promise<HttpResult> {
  try {
    return await http(url, { ...init, timeoutMs: run.o.timeoutMs, signal: run.signal });
  } catch (err) {
    if (run.signal.aborted) throw err;
    return fail(`${init.method ?? 'GET'} ${url}: ${describeError(err)}`);
  }
}

export function expectStatus(r: HttpResult, what: string, ...want: number[]): void {
  if (!want.includes(r.status)) {
    const why = (r.json as { error?: unknown } | undefined)?.error;
    const text = typeof why === 'string' ? why : typeof (why as { message?: unknown } | undefined)?.message === 'string' ? (why as { message: string }).message : r.text.slice(0, 160);
    fail(`${what} answered ${r.status}, expected ${want.join(' or ')}${text ? `: ${text}` : ''}`);
  }
}

export function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** Router /services as name → entry (FAIL with a hint when the admin token is missing). */
export async function routerServices(run: Run): Promise<Map<string, { healthy: boolean; state: string }>> {
  const r = await call(run, `${run.routerUrl}/services`, { token: run.o.adminToken });
  if (r.status === 401) fail(`router /services answered 401: it needs its admin token (--admin-token or SWITCHBOARD_ADMIN_TOKEN)`);
  expectStatus(r, 'router GET /services', 200);
  const list = obj(r.json).services;
  const out = new Map<string, { healthy: boolean; state: string }>();
  if (Array.isArray(list)) {
    for (const s of list) {
      const e = obj(s);
      if (typeof e.name === 'string') out.set(e.name, { healthy: e.healthy === true, state: typeof e.state === 'string' ? e.state : e.healthy === true ? 'up' : 'unhealthy' });
    }
  }
  return out;
}

/** Polls `check` every 25 ms until it returns a value or timeoutMs passes (then undefined). */
export async function poll<T>(run: Run, timeoutMs: number, check: () => Promise<T | undefined>): Promise<{ value: T; ms: number } | undefined> {
  const start = run.o.clock.monotonic();
  for (;;) {
    const value = await check();
    const ms = Math.round(run.o.clock.monotonic() - start);
    if (value !== undefined) return { value, ms };
    if (ms >= timeoutMs) return undefined;
    await run.o.clock.sleep(25, run.signal);
  }
}

export function quote(text: string, max = 40): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(t.length > max ? `${t.slice(0, max)}…` : t);
}
