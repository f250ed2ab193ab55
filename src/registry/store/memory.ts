// The default store: a Map in this process, written to `<dataDir>/registry-snapshot.json`
// atomically (temp file, fsync, rename) a moment after each change, so a restart does not forget
// registrations. Insertion order is kept, as the original's dict did.
import type { Logger } from '../../core/index.js';
import { silentLogger } from '../../core/index.js';
import { leaseFresh, type HealthStatus, type HeartbeatInput, type ServicePatch, type StoredService } from '../record.js';
import { loadSnapshot, writeSnapshot } from './snapshot.js';
import { StoreEmitter, type RegistryStore, type StoreListener, type StoreTiming } from './store.js';

export interface MemoryStoreOptions extends StoreTiming {
  /** Snapshot folder; none means nothing is persisted. */
  dataDir?: string | undefined;
  /** Longest delay before a change reaches the snapshot. */
  snapshotIntervalMs?: number;
  logger?: Logger;
}

interface Entry {
  service: StoredService;
  /** The lease lapsed and an event said so; the next heartbeat revives the record. */
  lapsed: boolean;
}

export class MemoryStore implements RegistryStore {
  readonly kind = 'memory';
  #index = 0;
  readonly #entries = new Map<string, Entry>();
  readonly #emitter = new StoreEmitter();
  readonly #opts: MemoryStoreOptions;
  readonly #log: Logger;
  #dirty = false;
  #flushTimer: NodeJS.Timeout | undefined;
  #flushDueAt = 0;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(opts: MemoryStoreOptions) {
    this.#opts = opts;
    this.#log = opts.logger ?? silentLogger;
    // Each start moves the change index past anything an earlier run (or a lagging snapshot of
    // it) can have handed out, so a watcher resuming with an old Last-Event-ID or ?index= is told
    // to start over from a snapshot instead of being told that it missed nothing.
    this.#index = Date.now();
    if (opts.dataDir) {
      const snap = loadSnapshot(opts.dataDir, this.#log);
      if (snap) {
        this.#index = Math.max(snap.index + 1, this.#index);
        for (const s of snap.services) this.#entries.set(s.name, { service: s, lapsed: false });
      }
    }
  }

  get index(): number {
    return this.#index;
  }

  get(name: string): Promise<StoredService | undefined> {
    return Promise.resolve(this.#entries.get(name)?.service);
  }

  list(): Promise<StoredService[]> {
    return Promise.resolve(Array.from(this.#entries.values(), (e) => e.service));
  }

  register(service: StoredService): Promise<void> {
    this.#entries.set(service.name, { service, lapsed: false });
    this.#upserted(service);
    return Promise.resolve();
  }

  update(name: string, patch: ServicePatch, nowMs: number): Promise<StoredService | undefined> {
    const e = this.#entries.get(name);
    if (!e) return Promise.resolve(undefined);
    e.service = { ...e.service, ...patch, lastHeartbeatMs: nowMs };
    e.lapsed = false;
    this.#upserted(e.service);
    return Promise.resolve(e.service);
  }

  heartbeat(name: string, input: HeartbeatInput, nowMs: number): Promise<boolean> {
    const e = this.#entries.get(name);
    if (!e) return Promise.resolve(false);
    const s = e.service;
    let changed = e.lapsed;
    s.lastHeartbeatMs = nowMs;
    e.lapsed = false;
    if (input.status !== undefined && input.status !== s.status) {
      s.status = input.status;
      changed = true;
    }
    if (input.load) {
      s.load = { ...input.load, updated_at: nowMs / 1000 };
      this.#emitter.emit({ type: 'load', name, load: s.load });
    }
    if (changed) this.#upserted(s);
    else this.#markDirty(false);
    return Promise.resolve(true);
  }

  setHealth(name: string, status: HealthStatus, refreshHeartbeatMs?: number): Promise<boolean> {
    const e = this.#entries.get(name);
    if (!e) return Promise.resolve(false);
    const s = e.service;
    let changed = false;
    if (refreshHeartbeatMs !== undefined) {
      s.lastHeartbeatMs = refreshHeartbeatMs;
      changed = e.lapsed;
      e.lapsed = false;
    }
    if (s.healthStatus !== status) {
      s.healthStatus = status;
      changed = true;
    }
    if (changed) this.#upserted(s);
    return Promise.resolve(true);
  }

  remove(name: string): Promise<boolean> {
    if (!this.#entries.delete(name)) return Promise.resolve(false);
    this.#emitter.emit({ type: 'delete', index: ++this.#index, name });
    this.#markDirty(true);
    return Promise.resolve(true);
  }

  expireLeases(nowMs: number): Promise<string[]> {
    const lapsed: string[] = [];
    for (const e of this.#entries.values()) {
      if (!e.lapsed && !leaseFresh(e.service, nowMs)) {
        e.lapsed = true;
        lapsed.push(e.service.name);
        this.#upserted(e.service);
      }
    }
    return Promise.resolve(lapsed);
  }

  cleanup(nowMs: number): Promise<string[]> {
    const removed: string[] = [];
    for (const [name, e] of this.#entries) {
      if (nowMs - e.service.lastHeartbeatMs > this.#opts.cleanupAgeMs) removed.push(name);
    }
    for (const name of removed) {
      this.#entries.delete(name);
      this.#emitter.emit({ type: 'delete', index: ++this.#index, name });
    }
    if (removed.length > 0) this.#markDirty(true);
    return Promise.resolve(removed);
  }

  subscribe(listener: StoreListener): () => void {
    return this.#emitter.subscribe(listener);
  }

  tryLead(): Promise<boolean> {
    return Promise.resolve(true);
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#dirty) await this.#flush();
  }

  #upserted(service: StoredService): void {
    this.#emitter.emit({ type: 'upsert', index: ++this.#index, service });
    this.#markDirty(true);
  }

  /** Structural changes reach the snapshot within 50 ms; heartbeats within snapshotIntervalMs. */
  #markDirty(soon: boolean): void {
    if (!this.#opts.dataDir || this.#closed) return;
    this.#dirty = true;
    const dueAt = Date.now() + (soon ? 50 : (this.#opts.snapshotIntervalMs ?? 2000));
    // an earlier flush already scheduled covers this change too (and churn cannot postpone it)
    if (this.#flushTimer && this.#flushDueAt <= dueAt) return;
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushDueAt = dueAt;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      void this.#flush();
    }, dueAt - Date.now());
    this.#flushTimer.unref();
  }

  /** Writes are serialized: a flush waits for the one in progress, then writes the latest state. */
  #flush(): Promise<void> {
    this.#writing = this.#writing.then(() => this.#writeNow());
    return this.#writing;
  }

  async #writeNow(): Promise<void> {
    if (!this.#opts.dataDir || !this.#dirty) return;
    this.#dirty = false;
    try {
      await writeSnapshot(this.#opts.dataDir, { index: this.#index, services: Array.from(this.#entries.values(), (e) => e.service) });
    } catch (err) {
      this.#dirty = true;
      this.#log.error({ err, dataDir: this.#opts.dataDir }, 'registry snapshot write failed; will retry');
      if (!this.#closed) this.#markDirty(false);
    }
  }
}
