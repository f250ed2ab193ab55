// Plain round robin over the candidates, one position per model. Weights are ignored (use
// `weighted`); the candidate order is the table's (discovery order), so the sequence is stable.
import type { Backend } from '../backend.js';
import type { Balancer } from './index.js';

export class RoundRobinBalancer implements Balancer {
  readonly policy = 'round_robin';
  #next = 0;

  pick(candidates: readonly Backend[]): Backend | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    const i = this.#next % n;
    this.#next = (this.#next + 1) % 1_000_000_007;
    return candidates[i];
  }
}
