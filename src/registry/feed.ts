// The change feed over a store's events: what routers watch instead of polling every record.
// Each event is serialised once, however many watchers there are. A ring buffer of recent events
// lets a watcher that reconnects with Last-Event-ID catch up; older than the buffer, it gets a
// fresh snapshot instead. Blocking queries (`?index=N&wait=30s`) wait here for the index to pass N.
import type { Clock } from '../core/index.js';
import { toWire } from './record.js';
import type { RegistryStore, StoreEvent } from './store/index.js';

export interface FeedEntry {
  /** SSE event name. */
  event: 'upsert' | 'delete' | 'load';
  /** Change index (absent for load events, which are not changes). */
  id?: number;
  /** JSON text. */
  data: string;
}

/** 'resync': rebuild from a snapshot; 'close': the registry is stopping. */
export type FeedSink = (entry: FeedEntry | 'resync' | 'close') => void;

interface Waiter {
  after: number;
  resolve: () => void;
}

export class ChangeFeed {
  readonly #ring: (FeedEntry | undefined)[];
  #head = 0;
  #count = 0;
  /** Events at or below this index may be missing from the ring (after a resync). */
  #floor: number;
  #index: number;
  readonly #sinks = new Set<FeedSink>();
  #waiters: Waiter[] = [];
  readonly #unsubscribe: () => void;

  constructor(store: RegistryStore, private readonly clock: Clock, bufferSize: number) {
    this.#ring = new Array<FeedEntry | undefined>(bufferSize);
    this.#index = store.index;
    this.#floor = store.index;
    this.#unsubscribe = store.subscribe((ev) => this.#onStoreEvent(ev));
  }

  get index(): number {
    return this.#index;
  }

  get watchers(): number {
    return this.#sinks.size;
  }

  subscribe(sink: FeedSink): () => void {
    this.#sinks.add(sink);
    return () => this.#sinks.delete(sink);
  }

  /** Events after `index`, oldest first; undefined when some of them are no longer buffered. */
  since(index: number): FeedEntry[] | undefined {
    // an index from the future means the registry lost its history (restarted without a
    // snapshot): the client must start over from a snapshot
    if (index > this.#index) return undefined;
    if (index === this.#index) return [];
    if (index < this.#floor) return undefined;
    const out: FeedEntry[] = [];
    const cap = this.#ring.length;
    for (let i = 0; i < this.#count; i++) {
      const e = this.#ring[(this.#head - this.#count + i + cap) % cap]!;
      if (e.id !== undefined && e.id > index) out.push(e);
    }
    // the oldest buffered change must directly follow `index`, or some were dropped
    if (out.length > 0 && out[0]!.id !== index + 1) return undefined;
    return out;
  }

  /** Resolves when the index passes `after`, or after timeoutMs, or when the signal aborts. */
  waitForChange(after: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    // after > index: the registry restarted with a lower index (Consul's rule: answer at once)
    if (this.#index !== after || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        timer.cancel();
        signal?.removeEventListener('abort', done);
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve();
      };
      const waiter: Waiter = { after, resolve: done };
      const timer = this.clock.setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      this.#waiters.push(waiter);
    });
  }

  close(): void {
    this.#unsubscribe();
    for (const w of this.#waiters) w.resolve();
    for (const s of this.#sinks) s('close');
    this.#sinks.clear();
  }

  #onStoreEvent(ev: StoreEvent): void {
    switch (ev.type) {
      case 'upsert':
        this.#push({ event: 'upsert', id: ev.index, data: JSON.stringify(toWire(ev.service, this.clock.now())) }, ev.index);
        break;
      case 'delete':
        this.#push({ event: 'delete', id: ev.index, data: JSON.stringify({ name: ev.name }) }, ev.index);
        break;
      case 'load':
        for (const s of this.#sinks) s({ event: 'load', data: JSON.stringify({ name: ev.name, load: ev.load }) });
        break;
      case 'resync':
        this.#index = Math.max(this.#index, ev.index);
        this.#floor = this.#index;
        this.#count = 0;
        for (const s of this.#sinks) s('resync');
        this.#wake();
        break;
    }
  }

  #push(entry: FeedEntry, index: number): void {
    this.#ring[this.#head] = entry;
    this.#head = (this.#head + 1) % this.#ring.length;
    if (this.#count < this.#ring.length) this.#count++;
    else this.#floor = Math.max(this.#floor, (this.#ring[this.#head]?.id ?? index) - 1);
    this.#index = Math.max(this.#index, index);
    for (const s of this.#sinks) s(entry);
    this.#wake();
  }

  #wake(): void {
    if (this.#waiters.length === 0) return;
    const due = this.#waiters.filter((w) => this.#index > w.after);
    for (const w of due) w.resolve();
  }
}
