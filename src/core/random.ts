// Randomness is injected like time: balancers, jitter and the simulated engine take a Random
// so that tests (and `sim --seed`) are deterministic.

export interface Random {
  /** A float in [0, 1). */
  next(): number;
}

export const systemRandom: Random = { next: () => Math.random() };

/** mulberry32: tiny, fast, good enough for load balancing and simulation (not for secrets). */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return {
    next() {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** An integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random.next() * n);
}

/** ms scaled by a uniform factor in [1 - ratio, 1 + ratio] (decorrelates periodic work). */
export function jitter(random: Random, ms: number, ratio = 0.1): number {
  return ms * (1 - ratio + 2 * ratio * random.next());
}

/**
 * Exponential back-off with "full jitter" (AWS architecture blog): a uniform delay in
 * [0, min(cap, base * 2^attempt)], floored at base/2 so a retry is never immediate.
 */
export function backoffDelay(random: Random, attempt: number, baseMs: number, capMs: number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.max(baseMs / 2, random.next() * ceiling);
}
