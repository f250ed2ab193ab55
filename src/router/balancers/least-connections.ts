// Least in-flight requests, weighted (in-flight / weight); ties broken at random so equal
// backends share the work instead of the first one taking every tie.
import type { Random } from '../../core/index.js';
import type { Backend } from '../backend.js';
import type { Balancer } from './index.js';

export class LeastConnectionsBalancer implements Balancer {
  readonly policy = 'least_connections';
  constructor(private readonly random: Random) {}

  pick(candidates: readonly Backend[]): Backend | undefined {
    let best: Backend | undefined;
    let bestScore = Infinity;
    let ties = 0;
    for (const b of candidates) {
      const score = b.inFlight / b.weight;
      if (score < bestScore) {
        best = b;
        bestScore = score;
        ties = 1;
      } else if (score === bestScore) {
        // reservoir sampling over the ties: each tied backend equally likely
        ties++;
        if (this.random.next() * ties < 1) best = b;
      }
    }
    return best;
  }
}
