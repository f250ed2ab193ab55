// Automatic prefix caching, modelled on vLLM's: a prompt is cut into full blocks of
// blockSizeTokens, each keyed by a hash of every token up to its end (hash.blockKeys), and the
// engine remembers the most recently used blocks. A new prompt whose leading blocks are known
// skips their prefill. The LRU is a Map: insertion order is recency, so touch = delete + set and
// eviction takes the first key, all O(1).
//
// Simplification (documented): cached blocks do not take KV capacity away from running
// sequences; in vLLM they live in free KV blocks and are evicted first when space is needed,
// which has the same effect on admission.

export class PrefixCache {
  readonly #lru = new Map<number, true>();

  constructor(readonly capacityBlocks: number) {}

  /** How many leading blocks of this prompt are cached (those are touched: recently used). */
  match(keys: readonly number[]): number {
    let n = 0;
    for (; n < keys.length; n++) {
      const k = keys[n]!;
      if (!this.#lru.has(k)) break;
      this.#lru.delete(k);
      this.#lru.set(k, true);
    }
    return n;
  }

  /** Remembers a prompt's blocks once its prefill is done, evicting the least recently used. */
  insert(keys: readonly number[]): void {
    for (const k of keys) {
      this.#lru.delete(k);
      this.#lru.set(k, true);
    }
    while (this.#lru.size > this.capacityBlocks) {
      const oldest = this.#lru.keys().next();
      if (oldest.done) break;
      this.#lru.delete(oldest.value);
    }
  }

  get size(): number {
    return this.#lru.size;
  }

  clear(): void {
    this.#lru.clear();
  }
}
