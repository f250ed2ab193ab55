// The agent's Prometheus metrics: each engine's state, restarts and last-read load, and how the
// registry conversation goes. Labels are bounded: one value per engine record.
import { MetricsRegistry, registerProcessMetrics, type CounterChild } from '../core/index.js';
import type { EngineFleet } from './engines.js';
import type { EngineState } from './supervisor.js';

const STATES: readonly EngineState[] = ['starting', 'ready', 'backoff', 'failed', 'stopping', 'stopped'];

export interface AgentMetrics {
  readonly registry: MetricsRegistry;
  heartbeat(result: 'ok' | 'unknown' | 'error'): void;
  readonly registrations: CounterChild;
  close(): void;
}

export function createAgentMetrics(fleet: EngineFleet): AgentMetrics {
  const registry = new MetricsRegistry();
  const stopProcess = registerProcessMetrics(registry);
  const up = registry.gauge('agent_engine_up', 'Whether the engine is ready to serve (1) or not (0).', ['engine']);
  const state = registry.gauge('agent_engine_state', 'The engine\'s supervision state (1 for the current one).', ['engine', 'state']);
  const restarts = registry.gauge('agent_engine_restarts', 'Restarts of the engine since the agent started it.', ['engine']);
  const running = registry.gauge('agent_engine_requests_running', 'Requests the engine is running, at the last read.', ['engine']);
  const waiting = registry.gauge('agent_engine_requests_waiting', 'Requests waiting in the engine, at the last read.', ['engine']);
  const kv = registry.gauge('agent_engine_kv_cache_usage', 'KV-cache use of the engine (0..1), at the last read.', ['engine']);
  const heartbeats = registry.counter('agent_registry_heartbeats_total', 'Heartbeats sent, by result (ok, unknown = the registry had lost the record, error).', ['result']);
  const registrations = registry.counter('agent_registry_registrations_total', 'Records registered (again) with the registry.').labels();
  const hb = { ok: heartbeats.labels('ok'), unknown: heartbeats.labels('unknown'), error: heartbeats.labels('error') };
  registry.onCollect(() => {
    for (const g of [up, state, restarts, running, waiting, kv]) g.reset();
    for (const r of fleet.replicas()) {
      const s = r.supervisor;
      up.labels(r.recordName).set(s.state === 'ready' ? 1 : 0);
      for (const st of STATES) state.labels(r.recordName, st).set(s.state === st ? 1 : 0);
      restarts.labels(r.recordName).set(s.restarts);
      const l = r.lastLoad;
      if (l?.running !== undefined) running.labels(r.recordName).set(l.running);
      if (l?.waiting !== undefined) waiting.labels(r.recordName).set(l.waiting);
      if (l?.kv_cache_usage !== undefined) kv.labels(r.recordName).set(l.kv_cache_usage);
    }
  });
  return { registry, heartbeat: (r) => hb[r].inc(), registrations, close: stopProcess };
}
