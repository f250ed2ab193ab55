// The registry client used by the router, the agent and the CLI: the REST calls, with catalog
// errors (unreachable vs. rejected) and the token when one is set. The watcher is in watcher.ts.
import { describeError, requestJson, sbError, sbErrorFrom, type JsonResponse } from '../core/index.js';
import type { ServiceLoad, ServiceRecord } from './record.js';

export interface RegistryClientOptions {
  url: string;
  token?: string | undefined;
  timeoutMs?: number;
}

/** What a client sends to register (the original's fields, plus our optional lease). */
export interface Registration {
  name: string;
  host: string;
  port: number;
  hostname: string;
  url: string;
  status: string;
  metadata?: Record<string, unknown>;
  timestamp?: string;
  /** Seconds a heartbeat keeps the record healthy (registry default 120). */
  lease_ttl?: number;
}

export interface HeartbeatBody {
  status?: string;
  load?: Omit<ServiceLoad, 'updated_at'>;
}

export class RegistryClient {
  readonly url: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;

  constructor(opts: RegistryClientOptions) {
    this.url = opts.url.replace(/\/+$/, '');
    this.#token = opts.token;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
  }

  async register(r: Registration): Promise<ServiceRecord> {
    const res = await this.#call<{ service: ServiceRecord }>('POST', '/services', r);
    return res.body.service;
  }

  async update(name: string, patch: Partial<Omit<Registration, 'name'>>): Promise<ServiceRecord> {
    const res = await this.#call<{ service: ServiceRecord }>('PUT', `/services/${encodeURIComponent(name)}`, patch);
    return res.body.service;
  }

  /** False when the registry does not know the service (the caller should register again). */
  async heartbeat(name: string, body?: HeartbeatBody): Promise<boolean> {
    const res = await this.#call('POST', `/services/${encodeURIComponent(name)}/heartbeat`, body ?? {}, [404]);
    return res.status !== 404;
  }

  /** False when there was nothing to remove. */
  async deregister(name: string): Promise<boolean> {
    const res = await this.#call('DELETE', `/services/${encodeURIComponent(name)}`, undefined, [404]);
    return res.status !== 404;
  }

  async get(name: string): Promise<ServiceRecord | undefined> {
    const res = await this.#call<ServiceRecord>('GET', `/services/${encodeURIComponent(name)}`, undefined, [404]);
    return res.status === 404 ? undefined : res.body;
  }

  async list(filter: { healthy?: boolean; status?: string } = {}): Promise<{ services: ServiceRecord[]; index: number | undefined }> {
    const q = new URLSearchParams();
    if (filter.healthy !== undefined) q.set('healthy', String(filter.healthy));
    if (filter.status) q.set('status', filter.status);
    const qs = q.size > 0 ? `?${q.toString()}` : '';
    const res = await this.#call<{ services: ServiceRecord[] }>('GET', `/services${qs}`);
    const idx = Number(res.headers['x-switchboard-index']);
    return { services: res.body.services ?? [], index: Number.isFinite(idx) ? idx : undefined };
  }

  /** Asks the registry to probe one service now (GET /services/{name}/health). */
  async serviceHealth(name: string): Promise<{ service: string; health_status: string; is_healthy: boolean; last_heartbeat: number }> {
    return (await this.#call<{ service: string; health_status: string; is_healthy: boolean; last_heartbeat: number }>('GET', `/services/${encodeURIComponent(name)}/health`)).body;
  }

  async health(): Promise<Record<string, unknown>> {
    return (await this.#call<Record<string, unknown>>('GET', '/health')).body;
  }

  async stats(): Promise<Record<string, unknown>> {
    return (await this.#call<Record<string, unknown>>('GET', '/stats')).body;
  }

  async #call<T>(method: string, path: string, body?: unknown, allow: number[] = []): Promise<JsonResponse<T>> {
    let res: JsonResponse<T>;
    try {
      res = await requestJson<T>(this.url + path, { method, body, token: this.#token, timeoutMs: this.#timeoutMs });
    } catch (err) {
      throw sbErrorFrom(err, 'SB_ERR_REGISTRY_UNREACHABLE', this.url, describeError(err));
    }
    if ((res.status >= 200 && res.status < 300) || allow.includes(res.status)) return res;
    const detail = (res.body as { error?: unknown } | undefined)?.error;
    throw sbError('SB_ERR_REGISTRY_REJECTED', this.url, res.status, typeof detail === 'string' ? detail : res.text.slice(0, 200) || 'no details');
  }
}
