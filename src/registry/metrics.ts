// The registry's Prometheus metrics. Labels are bounded: states, results, route patterns.
import { MetricsRegistry, registerProcessMetrics, type CounterChild, type Histogram } from '../core/index.js';
import { isHealthy, leaseFresh, type StoredService } from './record.js';

export type RecordState = 'healthy' | 'unhealthy' | 'stale' | 'not_running';
const STATES: readonly RecordState[] = ['healthy', 'unhealthy', 'stale', 'not_running'];

export function recordState(s: StoredService, nowMs: number): RecordState {
  if (isHealthy(s, nowMs)) return 'healthy';
  if (s.status !== 'running') return 'not_running';
  if (!leaseFresh(s, nowMs)) return 'stale';
  return 'unhealthy';
}

export interface RegistryMetrics {
  readonly registry: MetricsRegistry;
  readonly probeOk: CounterChild;
  readonly probeFail: CounterChild;
  readonly heartbeatOk: CounterChild;
  readonly heartbeatUnknown: CounterChild;
  readonly registrations: CounterChild;
  readonly deregistrations: CounterChild;
  readonly expired: CounterChild;
  /** Counts one request: method, route pattern (bounded), status. */
  request(method: string, route: string, status: number, seconds: number): void;
  /** Copies the current records into the per-state gauge (called before each scrape). */
  setRecords(services: readonly StoredService[], nowMs: number): void;
  setStoreUp(up: boolean): void;
  close(): void;
}

export function createRegistryMetrics(feed: { readonly index: number; readonly watchers: number }): RegistryMetrics {
  const registry = new MetricsRegistry();
  const stopProcess = registerProcessMetrics(registry);
  const services = registry.gauge('registry_services', 'Registered service records by state.', ['state']);
  const probes = registry.counter('registry_probes_total', 'Active health probes by result.', ['result']);
  const heartbeats = registry.counter('registry_heartbeats_total', 'Heartbeats received, by result (ok, or unknown service).', ['result']);
  const changes = registry.counter('registry_record_changes_total', 'Records registered, deregistered, or removed by the clean-up.', ['change']);
  const requests = registry.counter('registry_http_requests_total', 'HTTP requests by method, route and status code.', ['method', 'route', 'code']);
  const duration: Histogram = registry.histogram('registry_http_request_duration_seconds', 'HTTP request duration by route.', ['route'], [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]);
  const watchers = registry.gauge('registry_watchers', 'Open change-feed (SSE) connections.');
  const index = registry.gauge('registry_change_index', 'The change index of the record set.');
  const storeUp = registry.gauge('registry_store_up', '1 when the store answers, 0 when it cannot be reached.');
  registry.onCollect(() => {
    watchers.set(feed.watchers);
    index.set(feed.index);
  });
  const requestChildren = new Map<string, CounterChild>();
  return {
    registry,
    probeOk: probes.labels('ok'),
    probeFail: probes.labels('fail'),
    heartbeatOk: heartbeats.labels('ok'),
    heartbeatUnknown: heartbeats.labels('unknown_service'),
    registrations: changes.labels('registered'),
    deregistrations: changes.labels('deregistered'),
    expired: changes.labels('expired'),
    request(method, route, status, seconds) {
      const key = `${method} ${route} ${status}`;
      let c = requestChildren.get(key);
      if (!c) {
        c = requests.labels(method, route, String(status));
        requestChildren.set(key, c);
      }
      c.inc();
      duration.labels(route).observe(seconds);
    },
    setRecords(list, nowMs) {
      const counts: Record<RecordState, number> = { healthy: 0, unhealthy: 0, stale: 0, not_running: 0 };
      for (const s of list) counts[recordState(s, nowMs)]++;
      for (const st of STATES) services.labels(st).set(counts[st]);
    },
    setStoreUp(up) {
      storeUp.set(up ? 1 : 0);
    },
    close: stopProcess,
  };
}
