// Power of two choices: two distinct candidates at random, the one with fewer in flight (per
// unit of weight) wins. Nearly as good as least-connections with far less herding when many
// routers share the same backends.
import { randomInt, type Random } from '../../core/index.js';
import type { Backend } from '../backend.js';
import type { Balancer } from './index.js';

export class RandomTwoBalancer implements Balancer {
  readonly policy = 'random_two';
  constructor(private readonly random: Random) {}

  pick(candidates: readonly Backend[]): Backend | undefined {
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    const i = randomInt(this.random, n);
    let j = randomInt(this.random, n - 1);
    if (j >= i) j++;
    const a = candidates[i]!;
    const b = candidates[j]!;
    const sa = a.inFlight / a.weight;
    const sb = b.inFlight / b.weight;
    if (sa !== sb) return sa < sb ? a : b;
    return this.random.next() < 0.5 ? a : b;
  }
}
