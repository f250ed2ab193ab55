// Consistent hashing with bounded load (Mirrokni et al., as in HAProxy's hash-balance-factor): a
// session key maps to a point on a ring of virtual nodes; the first backend clockwise whose
// in-flight count is under ceil(factor × average) takes it. A session sticks to its backend while
// the set is unchanged and that backend is not overloaded; when a backend leaves, only its
// sessions move. Requests without a key are spread at random.
import { randomInt, type Random } from '../../core/index.js';
import type { Backend } from '../backend.js';
import type { Balancer, PickContext } from './index.js';

const VNODES = 100;

/** FNV-1a, 32 bits, then a murmur3 finalizer so nearby keys land far apart. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

interface Ring {
  key: string;
  points: Uint32Array;
  owners: Backend[];
}

export class ConsistentHashBalancer implements Balancer {
  readonly policy = 'consistent_hash';
  #ring: Ring | undefined;

  constructor(
    private readonly loadFactor: number,
    private readonly random: Random,
  ) {}

  #ringFor(candidates: readonly Backend[]): Ring {
    const key = candidates.map((b) => `${b.name}*${b.weight}`).join('\n');
    if (this.#ring?.key === key) return this.#ring;
    const entries: [number, Backend][] = [];
    for (const b of candidates) {
      const n = VNODES * b.weight;
      for (let v = 0; v < n; v++) entries.push([hash32(`${b.name}#${v}`), b]);
    }
    entries.sort((x, y) => x[0] - y[0]);
    this.#ring = { key, points: Uint32Array.from(entries.map((e) => e[0])), owners: entries.map((e) => e[1]) };
    return this.#ring;
  }

  pick(candidates: readonly Backend[], ctx: PickContext): Backend | undefined {
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    if (ctx.sessionKey === undefined) return candidates[randomInt(this.random, n)];
    const ring = this.#ringFor(candidates);
    let total = 0;
    for (const b of candidates) total += b.inFlight;
    // capacity counts the request being placed
    const cap = Math.ceil((this.loadFactor * (total + 1)) / n);
    const h = hash32(ctx.sessionKey);
    // first point >= h (binary search), wrapping around
    let lo = 0;
    let hi = ring.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ring.points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    const seen = new Set<Backend>();
    for (let k = 0; k < ring.points.length && seen.size < n; k++) {
      const b = ring.owners[(lo + k) % ring.points.length]!;
      if (seen.has(b)) continue;
      seen.add(b);
      if (b.inFlight < cap) return b;
    }
    return ring.owners[lo % ring.points.length];
  }
}
