// The memory store's snapshot file. Written atomically (core's replaceFile: temp file in the same
// folder, fsync, rename) so a crash mid-write leaves the previous snapshot, never half of one.
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { replaceFile, type Logger } from '../../core/index.js';
import type { HealthStatus, StoredService } from '../record.js';

export const SNAPSHOT_FILE = 'registry-snapshot.json';
const VERSION = 1;

export interface Snapshot {
  index: number;
  services: StoredService[];
}

export async function writeSnapshot(dataDir: string, snap: Snapshot): Promise<void> {
  const text = JSON.stringify({ version: VERSION, savedAt: new Date().toISOString(), index: snap.index, services: snap.services });
  await replaceFile(join(dataDir, SNAPSHOT_FILE), text);
}

const HEALTH: readonly HealthStatus[] = ['unknown', 'healthy', 'unhealthy'];

function validService(v: unknown): v is StoredService {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  return (
    typeof s.name === 'string' &&
    typeof s.host === 'string' &&
    typeof s.port === 'number' &&
    typeof s.hostname === 'string' &&
    typeof s.url === 'string' &&
    typeof s.status === 'string' &&
    typeof s.timestamp === 'string' &&
    typeof s.lastHeartbeatMs === 'number' &&
    HEALTH.includes(s.healthStatus as HealthStatus) &&
    typeof s.metadata === 'object' &&
    s.metadata !== null &&
    typeof s.leaseTtlMs === 'number'
  );
}

/**
 * Reads the snapshot, or undefined when there is none. A snapshot that cannot be read is moved
 * aside (never deleted) and the registry starts empty: agents re-register within a heartbeat.
 */
export function loadSnapshot(dataDir: string, log: Logger): Snapshot | undefined {
  const file = join(dataDir, SNAPSHOT_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown; index?: unknown; services?: unknown };
    if (raw.version !== VERSION || typeof raw.index !== 'number' || !Array.isArray(raw.services)) throw new Error(`unexpected snapshot format (version ${String(raw.version)})`);
    const services = raw.services.filter(validService);
    if (services.length !== raw.services.length) log.warn({ file, dropped: raw.services.length - services.length }, 'registry snapshot: dropped malformed records');
    log.info({ file, services: services.length, index: raw.index }, 'registry snapshot restored');
    return { index: raw.index, services };
  } catch (err) {
    const aside = `${file}.corrupt-${Date.now()}`;
    renameSync(file, aside);
    log.error({ err, file, movedTo: aside }, 'registry snapshot unreadable: moved aside, starting empty');
    return undefined;
  }
}
