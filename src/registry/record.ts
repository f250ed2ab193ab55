// The service record: what clients send (validated here, once), what stores keep, and what the
// wire shows. The wire shape is InfiniLM-SVC's (reference §1.2), same keys in the same order,
// plus `lease_ttl` and `load`, which original clients ignore.
import { sbError } from '../core/index.js';

export type HealthStatus = 'unknown' | 'healthy' | 'unhealthy';

/** Engine load published with heartbeats (agent), for load-aware routing. */
export interface ServiceLoad {
  running?: number;
  waiting?: number;
  kv_cache_usage?: number;
  /** Unix seconds when the registry received it. */
  updated_at: number;
  [key: string]: number | undefined;
}

/** A record as stores keep it. */
export interface StoredService {
  name: string;
  host: string;
  port: number;
  hostname: string;
  url: string;
  status: string;
  timestamp: string;
  lastHeartbeatMs: number;
  healthStatus: HealthStatus;
  metadata: Record<string, unknown>;
  leaseTtlMs: number;
  load?: ServiceLoad | undefined;
}

/** A record on the wire. */
export interface ServiceRecord {
  name: string;
  host: string;
  port: number;
  hostname: string;
  url: string;
  status: string;
  timestamp: string;
  last_heartbeat: number;
  health_status: HealthStatus;
  metadata: Record<string, unknown>;
  is_healthy: boolean;
  lease_ttl: number;
  load?: ServiceLoad;
}

/** RFC 3339 UTC, as the Rust registry writes it. */
export function isoTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+00:00');
}

export function leaseFresh(s: StoredService, nowMs: number): boolean {
  return nowMs - s.lastHeartbeatMs < s.leaseTtlMs;
}

/**
 * Healthy = running, lease fresh, and the active probe not failing. Unlike the original, a
 * failing probe takes a record out of rotation (the original only reported it).
 */
export function isHealthy(s: StoredService, nowMs: number): boolean {
  return s.status === 'running' && leaseFresh(s, nowMs) && s.healthStatus !== 'unhealthy';
}

export function toWire(s: StoredService, nowMs: number): ServiceRecord {
  const r: ServiceRecord = {
    name: s.name,
    host: s.host,
    port: s.port,
    hostname: s.hostname,
    url: s.url,
    status: s.status,
    timestamp: s.timestamp,
    last_heartbeat: s.lastHeartbeatMs / 1000,
    health_status: s.healthStatus,
    metadata: s.metadata,
    is_healthy: isHealthy(s, nowMs),
    lease_ttl: s.leaseTtlMs / 1000,
  };
  if (s.load) r.load = s.load;
  return r;
}

// ------------------------------------------------------------------ input validation

const REQUIRED = ['name', 'host', 'port', 'hostname', 'url', 'status'] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fieldError(field: string, expected: string): Error {
  return sbError('SB_ERR_INVALID_FIELD', field, expected).withParam(field);
}

function str(body: Record<string, unknown>, field: string, max = 1024): string {
  const v = body[field];
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw fieldError(field, `a non-empty string of at most ${max} characters`);
  return v;
}

function port(v: unknown, field = 'port'): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) throw fieldError(field, 'an integer from 1 to 65535');
  return v;
}

function name(body: Record<string, unknown>): string {
  const n = str(body, 'name', 253);
  // names travel in URL paths and log lines
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f/]/.test(n)) throw fieldError('name', 'a name without "/" or control characters');
  return n;
}

function url(body: Record<string, unknown>): string {
  const u = str(body, 'url', 2048);
  let parsed: URL;
  try {
    parsed = new URL(u);
  } catch {
    throw fieldError('url', 'an absolute http:// or https:// URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw fieldError('url', 'an absolute http:// or https:// URL');
  return u.replace(/\/+$/, '');
}

function metadata(v: unknown): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw fieldError('metadata', 'a JSON object');
  return v;
}

function leaseTtlMs(v: unknown, fallbackMs: number): number {
  if (v === undefined || v === null) return fallbackMs;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > 86_400) throw fieldError('lease_ttl', 'a number of seconds from 0 to 86400');
  return Math.round(v * 1000);
}

function requireObject(body: unknown): Record<string, unknown> {
  // The original answered a JSON array with "Missing required field: name"; keep that.
  if (Array.isArray(body)) throw sbError('SB_ERR_MISSING_FIELD', 'name').withParam('name');
  if (!isObject(body)) throw sbError('SB_ERR_INVALID_JSON', 'the body must be a JSON object');
  return body;
}

/** A POST /services body as a new record (required fields checked in the original's order). */
export function parseRegistration(body: unknown, nowMs: number, defaultLeaseMs: number): StoredService {
  const b = requireObject(body);
  for (const f of REQUIRED) if (!(f in b)) throw sbError('SB_ERR_MISSING_FIELD', f).withParam(f);
  const ts = b.timestamp;
  if (ts !== undefined && ts !== null && typeof ts !== 'string') throw fieldError('timestamp', 'a string');
  return {
    name: name(b),
    host: str(b, 'host', 253),
    port: port(b.port),
    hostname: str(b, 'hostname', 253),
    url: url(b),
    status: str(b, 'status', 64),
    timestamp: typeof ts === 'string' && ts.length > 0 ? ts.slice(0, 64) : isoTimestamp(nowMs),
    lastHeartbeatMs: nowMs,
    healthStatus: 'unknown',
    metadata: metadata(b.metadata),
    leaseTtlMs: leaseTtlMs(b.lease_ttl, defaultLeaseMs),
  };
}

export type ServicePatch = Partial<Pick<StoredService, 'host' | 'port' | 'hostname' | 'url' | 'status' | 'metadata' | 'leaseTtlMs'>>;

/** A PUT /services/{name} body: any of host, port, hostname, url, status, metadata (replaced), lease_ttl. */
export function parseUpdate(body: unknown): ServicePatch {
  const b = requireObject(body);
  const p: ServicePatch = {};
  if ('host' in b) p.host = str(b, 'host', 253);
  if ('port' in b) p.port = port(b.port);
  if ('hostname' in b) p.hostname = str(b, 'hostname', 253);
  if ('url' in b) p.url = url(b);
  if ('status' in b) p.status = str(b, 'status', 64);
  if ('metadata' in b) p.metadata = metadata(b.metadata);
  if ('lease_ttl' in b) p.leaseTtlMs = leaseTtlMs(b.lease_ttl, 0);
  return p;
}

export interface HeartbeatInput {
  status?: string;
  load?: Omit<ServiceLoad, 'updated_at'>;
}

const MAX_LOAD_KEYS = 16;

/** A heartbeat body: optional `status` and `load`. An empty or non-JSON body is a plain heartbeat. */
export function parseHeartbeat(body: unknown): HeartbeatInput {
  if (!isObject(body)) return {};
  const out: HeartbeatInput = {};
  if ('status' in body && body.status !== undefined) out.status = str(body, 'status', 64);
  if ('load' in body && body.load !== undefined && body.load !== null) {
    const l = body.load;
    if (!isObject(l) || Object.keys(l).length > MAX_LOAD_KEYS) throw fieldError('load', `an object of at most ${MAX_LOAD_KEYS} numbers`);
    const load: Record<string, number> = {};
    for (const [k, v] of Object.entries(l)) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw fieldError(`load.${k}`, 'a non-negative number');
      if (k !== 'updated_at') load[k] = v;
    }
    out.load = load;
  }
  return out;
}
