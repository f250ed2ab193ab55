// The registry in a backup: the memory store's snapshot file as it is on disk, or a live export
// of a running registry (`GET /services`, every record, healthy or not), which also covers the
// Redis store. Either can go back as a snapshot file for a registry that is stopped, or be
// re-registered into a running one (`POST /services`, the original's registration call), where
// each record starts a fresh lease as if its owner had just registered it.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requestJson } from '../../core/index.js';
import { RegistryClient, type Registration } from '../../registry/client.js';
import { isoTimestamp, type ServiceRecord, type StoredService } from '../../registry/record.js';
import { SNAPSHOT_FILE } from '../../registry/store/snapshot.js';

export const EXPORT_FORMAT = 'switchboard-registry-export';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The snapshot file's text and record count; throws when it is not a registry snapshot. */
export function readSnapshot(dataDir: string): { path: string; text: string; services: number } {
  const path = join(dataDir, SNAPSHOT_FILE);
  const text = readFileSync(path, 'utf8');
  const raw = JSON.parse(text) as unknown;
  if (!isObject(raw) || raw.version !== 1 || !Array.isArray(raw.services)) throw new Error(`${path} is not a registry snapshot (version 1 with a services list)`);
  return { path, text, services: raw.services.length };
}

/** GET <url>/services (all records) as the export file's text. */
export async function exportRegistry(url: string, nowMs: number): Promise<{ text: string; services: number }> {
  const base = url.replace(/\/+$/, '');
  const res = await requestJson<{ services?: unknown }>(`${base}/services`, { timeoutMs: 10_000 });
  if (res.status !== 200 || !isObject(res.body) || !Array.isArray(res.body.services)) {
    throw new Error(`GET ${base}/services answered ${res.status}${res.text ? `: ${res.text.slice(0, 200)}` : ''}`);
  }
  const index = Number(res.headers['x-switchboard-index']);
  const doc = { format: EXPORT_FORMAT, version: 1, registry: base, exportedAt: new Date(nowMs).toISOString(), index: Number.isFinite(index) ? index : null, services: res.body.services };
  return { text: `${JSON.stringify(doc, null, 2)}\n`, services: res.body.services.length };
}

function storedToRegistration(s: StoredService): Registration {
  return { name: s.name, host: s.host, port: s.port, hostname: s.hostname, url: s.url, status: s.status, metadata: s.metadata, timestamp: s.timestamp, lease_ttl: s.leaseTtlMs / 1000 };
}

function wireToRegistration(r: ServiceRecord): Registration {
  return { name: r.name, host: r.host, port: r.port, hostname: r.hostname, url: r.url, status: r.status, metadata: r.metadata ?? {}, timestamp: r.timestamp, ...(typeof r.lease_ttl === 'number' ? { lease_ttl: r.lease_ttl } : {}) };
}

/** The records of a backed-up registry file as registrations. */
export function registrationsIn(file: string, kind: 'registry-snapshot' | 'registry-export'): Registration[] {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as { services?: unknown[] };
  const list = Array.isArray(raw.services) ? raw.services.filter(isObject) : [];
  return kind === 'registry-snapshot' ? list.map((s) => storedToRegistration(s as unknown as StoredService)) : list.map((r) => wireToRegistration(r as unknown as ServiceRecord));
}

/**
 * A snapshot file's text for a registry that will start from it. From a snapshot: the bytes as
 * they were. From an export: the records in the store's form, last heartbeat as exported, so a
 * record whose owner is gone lapses and is cleaned up as it would have been.
 */
export function snapshotText(file: string, kind: 'registry-snapshot' | 'registry-export', nowMs: number): string {
  const text = readFileSync(file, 'utf8');
  if (kind === 'registry-snapshot') return text;
  const raw = JSON.parse(text) as { services?: unknown[] };
  const services: StoredService[] = (raw.services ?? []).filter(isObject).map((v) => {
    const r = v as unknown as ServiceRecord;
    const s: StoredService = {
      name: r.name,
      host: r.host,
      port: r.port,
      hostname: r.hostname,
      url: r.url,
      status: r.status,
      timestamp: r.timestamp ?? isoTimestamp(nowMs),
      lastHeartbeatMs: typeof r.last_heartbeat === 'number' ? Math.round(r.last_heartbeat * 1000) : nowMs,
      healthStatus: 'unknown',
      metadata: r.metadata ?? {},
      leaseTtlMs: typeof r.lease_ttl === 'number' ? Math.round(r.lease_ttl * 1000) : 120_000,
    };
    if (r.load) s.load = r.load;
    return s;
  });
  return JSON.stringify({ version: 1, savedAt: new Date(nowMs).toISOString(), index: 0, services });
}

export interface ReRegisterResult {
  registered: string[];
  /** Already in the registry and left as they were (without force). */
  kept: string[];
}

/** Registers each record in a running registry; records it already has are kept unless force. */
export async function reRegister(url: string, token: string | undefined, records: readonly Registration[], force: boolean): Promise<ReRegisterResult> {
  const client = new RegistryClient({ url, token });
  const out: ReRegisterResult = { registered: [], kept: [] };
  const existing = new Set((await client.list()).services.map((s) => s.name));
  for (const r of records) {
    if (existing.has(r.name) && !force) {
      out.kept.push(r.name);
      continue;
    }
    await client.register(r);
    out.registered.push(r.name);
  }
  return out;
}

/**
 * Fails fast, before anything is written, when the registry cannot be reached or would refuse
 * our registrations: a DELETE of a name nobody has answers 404 with a good token (or none
 * needed) and 401 without one, and changes nothing.
 */
export async function checkRegistry(url: string, token: string | undefined): Promise<void> {
  const client = new RegistryClient({ url, token });
  await client.health();
  await client.deregister(`switchboard-restore-check-${randomBytes(6).toString('hex')}`);
}
