// Registry stores behind one interface and one contract test suite
// (test/registry/store-contract.ts): in-memory with a snapshot file (the default) and Redis
// (several registries share one; leases expire through Redis key TTLs).
//
// Every change that matters to a router advances the store's change index and emits one event,
// in index order. Heartbeats that change nothing routable do not advance it; a heartbeat that
// carries engine load emits a `load` event, which has no index (it is frequent and never needed
// to rebuild a table).
import type { HealthStatus, HeartbeatInput, ServiceLoad, ServicePatch, StoredService } from '../record.js';

export type StoreEvent =
  | { type: 'upsert'; index: number; service: StoredService }
  | { type: 'delete'; index: number; name: string }
  | { type: 'load'; name: string; load: ServiceLoad }
  /** Events may have been missed (a Redis subscriber reconnected): consumers rebuild from list(). */
  | { type: 'resync'; index: number };

export type StoreListener = (event: StoreEvent) => void;

export interface StoreTiming {
  /** Records are removed (and, in Redis, expire) once their heartbeat is older than this. */
  cleanupAgeMs: number;
}

export interface RegistryStore {
  readonly kind: 'memory' | 'redis';
  /** The highest change index this store has seen. */
  readonly index: number;

  get(name: string): Promise<StoredService | undefined>;
  list(): Promise<StoredService[]>;
  /** Inserts or wholly replaces a record (re-registration resets heartbeat and health). */
  register(service: StoredService): Promise<void>;
  /** Applies a PUT; also refreshes the heartbeat. Undefined when there is no such record. */
  update(name: string, patch: ServicePatch, nowMs: number): Promise<StoredService | undefined>;
  /** Refreshes the lease, optionally changes status and records load. False when unknown. */
  heartbeat(name: string, input: HeartbeatInput, nowMs: number): Promise<boolean>;
  /** Sets the active-probe verdict; a good on-demand probe may also refresh the heartbeat. False when unknown. */
  setHealth(name: string, status: HealthStatus, refreshHeartbeatMs?: number): Promise<boolean>;
  /** True when a record was removed. */
  remove(name: string): Promise<boolean>;
  /** Emits an upsert for each record whose lease lapsed since the last call; returns their names. */
  expireLeases(nowMs: number): Promise<string[]>;
  /** Removes records whose heartbeat is older than cleanupAgeMs; returns their names. */
  cleanup(nowMs: number): Promise<string[]>;

  subscribe(listener: StoreListener): () => void;
  /**
   * Leadership for work that one registry should do for all (active probes): true while this
   * holder has it. Memory stores always lead.
   */
  tryLead(holder: string, ttlMs: number): Promise<boolean>;
  /** Throws SB_ERR_STORE_UNAVAILABLE when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Listener fan-out shared by the stores. */
export class StoreEmitter {
  readonly #listeners = new Set<StoreListener>();

  subscribe(listener: StoreListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: StoreEvent): void {
    for (const l of this.#listeners) l(event);
  }
}
