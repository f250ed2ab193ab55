// Balancers: one interface, one contract suite (test/router/balancers.test.ts). A balancer gets
// the candidates already filtered (serving the model, healthy, not ejected, best priority group,
// minus backends this request already tried) and picks one. One instance per model, so state
// such as a round-robin position is per model (InfiniLM's counter was global).
import type { Random } from '../../core/index.js';
import type { Backend } from '../backend.js';
import type { PolicyName } from '../config.js';
import { ConsistentHashBalancer } from './consistent-hash.js';
import { LeastConnectionsBalancer } from './least-connections.js';
import { RandomTwoBalancer } from './random-two.js';
import { RoundRobinBalancer } from './round-robin.js';
import { WeightedBalancer } from './weighted.js';

export interface PickContext {
  /** Session key for consistent_hash (prompt_cache_key, header or client address). */
  sessionKey?: string | undefined;
}

export interface Balancer {
  readonly policy: PolicyName;
  pick(candidates: readonly Backend[], ctx: PickContext): Backend | undefined;
}

export interface BalancerOptions {
  random: Random;
  /** consistent_hash bounded-load factor. */
  loadFactor: number;
}

export function createBalancer(policy: PolicyName, opts: BalancerOptions): Balancer {
  switch (policy) {
    case 'round_robin':
      return new RoundRobinBalancer();
    case 'weighted':
      return new WeightedBalancer();
    case 'least_connections':
      return new LeastConnectionsBalancer(opts.random);
    case 'random_two':
      return new RandomTwoBalancer(opts.random);
    case 'consistent_hash':
      return new ConsistentHashBalancer(opts.loadFactor, opts.random);
  }
}
