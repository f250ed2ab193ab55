// What every request handler of the sim shares: the config, the engine model, faults, metrics,
// the injected clock and random, and the small lookups built once at start (model ids).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sbError, type Clock, type Logger, type Random } from '../core/index.js';
import type { SimConfig } from './config.js';
import type { Faults } from './faults.js';
import { fnv1a, hashTokens, mix32 } from './hash.js';
import type { SimMetrics } from './metrics.js';
import type { Scheduler } from './scheduler.js';

export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly requestId: string;
  /** clock.monotonic() when the request arrived (TTFT and latency count from here). */
  readonly arrivedAt: number;
}

export interface SimDeps {
  readonly config: SimConfig;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  readonly scheduler: Scheduler;
  readonly faults: Faults;
  readonly metrics: SimMetrics;
  /** Unix seconds of start: the `created` of every model object. */
  readonly createdS: number;
  /** The served model a request names (the first one when it names none); 404 otherwise. */
  resolveModel(name: string | undefined): string;
  /** The prefix-cache namespace of a model (its prompts never share blocks with another's). */
  modelScope(model: string): number;
  /** The seed of a reply: same model, prompt and seeds => same reply. */
  replySeed(model: string, prompt: readonly number[], requestSeed: number | undefined, temperature: number | undefined): number;
  /** Kills the engine abruptly (a simulated crash); the process exits non-zero when run by the CLI. */
  crash(reason: string): void;
}

export function modelLookups(config: SimConfig, random: Random): Pick<SimDeps, 'resolveModel' | 'modelScope' | 'replySeed'> {
  const scopes = new Map<string, number>(config.models.map((m) => [m, fnv1a(m)]));
  const first = config.models[0]!;
  const base = config.seed ?? 0;
  return {
    resolveModel(name) {
      if (name === undefined) return first;
      if (!scopes.has(name)) throw sbError('SB_ERR_ENGINE_MODEL_NOT_FOUND', name).withParam('model');
      return name;
    },
    modelScope: (model) => scopes.get(model) ?? fnv1a(model),
    replySeed(model, prompt, requestSeed, temperature) {
      let h = mix32(base >>> 0, mix32(Math.floor(base / 4294967296) >>> 0, scopes.get(model) ?? 0));
      if (requestSeed !== undefined) h = mix32(mix32(h, requestSeed >>> 0), Math.floor(requestSeed / 4294967296) >>> 0);
      h = hashTokens(prompt, h);
      // without any seed and with sampling on, replies vary like a real engine's; greedy
      // decoding (temperature 0) is deterministic anyway
      if (config.seed === undefined && requestSeed === undefined && temperature !== 0) h = mix32(h, Math.floor(random.next() * 4294967296));
      return h;
    },
  };
}
