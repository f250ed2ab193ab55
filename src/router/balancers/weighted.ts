// Smooth weighted round robin (nginx's): each pick adds every candidate's weight to its current
// score, takes the highest, and subtracts the total from the winner. Weights 5,1,1 give
// a a b a c a a — spread out, not bursts — and exact ratios over every cycle.
import type { Backend } from '../backend.js';
import type { Balancer } from './index.js';

export class WeightedBalancer implements Balancer {
  readonly policy = 'weighted';
  readonly #current = new WeakMap<Backend, number>();

  pick(candidates: readonly Backend[]): Backend | undefined {
    let best: Backend | undefined;
    let bestScore = -Infinity;
    let total = 0;
    for (const b of candidates) {
      const score = (this.#current.get(b) ?? 0) + b.weight;
      this.#current.set(b, score);
      total += b.weight;
      if (score > bestScore) {
        bestScore = score;
        best = b;
      }
    }
    if (best) this.#current.set(best, bestScore - total);
    return best;
  }
}
