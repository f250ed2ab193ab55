import { sbError, type Logger } from '../../core/index.js';
import { MemoryStore } from './memory.js';
import { RedisStore } from './redis.js';
import type { RegistryStore } from './store.js';

export type { RegistryStore, StoreEvent, StoreListener } from './store.js';
export { MemoryStore } from './memory.js';
export { RedisStore, redactUrl } from './redis.js';

export interface StoreSettings {
  store: string;
  dataDir?: string | undefined;
  redisPrefix: string;
  cleanupAgeMs: number;
  snapshotIntervalMs: number;
}

/** `memory` or a `redis://` / `rediss://` URL. */
export async function createStore(s: StoreSettings, logger: Logger): Promise<RegistryStore> {
  if (s.store === 'memory') {
    return new MemoryStore({ dataDir: s.dataDir, cleanupAgeMs: s.cleanupAgeMs, snapshotIntervalMs: s.snapshotIntervalMs, logger });
  }
  if (/^rediss?:\/\//.test(s.store)) {
    return RedisStore.connect({ url: s.store, prefix: s.redisPrefix, cleanupAgeMs: s.cleanupAgeMs, logger });
  }
  throw sbError('SB_ERR_CONFIG_INVALID', 'store', `'${s.store}' is neither "memory" nor a redis:// URL`);
}
