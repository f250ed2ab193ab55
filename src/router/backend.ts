// One backend as the router sees it: where it is, what it serves, how it is doing. Built from a
// registry record or a static entry; updated in place when the record changes so balancer state
// and counters survive an update.
import type { ServiceLoad } from '../registry/record.js';
import type { PassiveHealth } from './passive-health.js';
import type { Origin } from './upstream-pool.js';

export type BackendKind = 'openai-api' | 'embeddings' | 'rerank';
export const ROUTABLE_TYPES: ReadonlySet<string> = new Set<BackendKind>(['openai-api', 'embeddings', 'rerank']);

export interface BackendSpec {
  name: string;
  host: string;
  port: number;
  url: string;
  /** running, draining, ... (registry status); static entries are "running". */
  status: string;
  /** The registry's verdict (is_healthy); static entries start true. */
  healthy: boolean;
  metadata: Record<string, unknown>;
  /** Static entries carry a top-level weight (InfiniLM static file). */
  weight?: number | undefined;
  static: boolean;
  load?: ServiceLoad | undefined;
}

function intOr(v: unknown, def: number, min: number): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min ? v : def;
}

export class Backend {
  name: string;
  url = '';
  origin = '';
  /** Where the proxy's connections go (host, port, TLS), and the Host header it sends. */
  target: Origin = { host: '', port: 0, key: '', tls: false };
  basePath = '';
  host = '';
  port = 0;
  babysitterUrl = '';
  kind: BackendKind = 'openai-api';
  status = 'running';
  registryHealthy = true;
  /** Result of the router's own active check (static services); true when not checked. */
  activeHealthy = true;
  metadata: Record<string, unknown> = {};
  models: readonly string[] = [];
  weight = 1;
  priority = 0;
  isStatic = false;
  load: ServiceLoad | undefined;
  lastSeenMs = 0;

  inFlight = 0;
  requestCount = 0;
  errorCount = 0;
  /** Mean response time in seconds (exponentially weighted), as InfiniLM reports response_time. */
  responseTime = 0;
  lastCheckMs = 0;
  readonly passive: PassiveHealth;
  /** Per-backend metric children, looked up once (set by the proxy). */
  series: { latency: { observe(v: number): void } } | undefined;

  constructor(spec: BackendSpec, passive: PassiveHealth) {
    this.name = spec.name;
    this.passive = passive;
    this.update(spec);
  }

  update(spec: BackendSpec): void {
    this.host = spec.host;
    this.port = spec.port;
    this.url = spec.url.replace(/\/+$/, '');
    const u = new URL(this.url);
    this.origin = u.origin;
    const tls = u.protocol === 'https:';
    this.target = { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port) || (tls ? 443 : 80), key: u.host, tls };
    this.basePath = u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, '');
    const h = spec.host.includes(':') && !spec.host.startsWith('[') ? `[${spec.host}]` : spec.host;
    this.babysitterUrl = `http://${h}:${spec.port + 1}`;
    const type = spec.metadata.type;
    this.kind = type === 'embeddings' || type === 'rerank' ? type : 'openai-api';
    this.status = spec.status;
    this.registryHealthy = spec.healthy;
    this.metadata = spec.metadata;
    const models = spec.metadata.models;
    this.models = Array.isArray(models) ? models.filter((m): m is string => typeof m === 'string') : [];
    this.weight = intOr(spec.weight ?? spec.metadata.weight, 1, 1);
    this.priority = intOr(spec.metadata.priority, 0, Number.MIN_SAFE_INTEGER);
    this.isStatic = spec.static || spec.metadata.static === true;
    if (spec.load) this.load = spec.load;
    const mf = spec.metadata.max_fails;
    const ft = spec.metadata.fail_timeout;
    this.passive.override(typeof mf === 'number' ? mf : undefined, typeof ft === 'number' ? ft * 1000 : undefined);
  }

  /** Usable for new work, ejection aside: running, healthy by registry and by our own checks. */
  get up(): boolean {
    return this.status === 'running' && this.registryHealthy && this.activeHealthy;
  }

  serves(model: string): boolean {
    return this.models.includes(model);
  }

  recordResponseTime(seconds: number): void {
    this.responseTime = this.responseTime === 0 ? seconds : this.responseTime * 0.8 + seconds * 0.2;
  }
}
