// The router's Prometheus metrics, with the seeds' names where they gave them. Labels stay
// bounded: `model` is a model some backend serves (anything else is "unknown"), `backend` a
// known backend name, never a request id or key.
import { MetricsRegistry, registerProcessMetrics, type Counter, type Gauge, type Histogram } from '../core/index.js';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const TPOT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28];

export class RouterMetrics {
  readonly registry = new MetricsRegistry();
  readonly requests: Counter;
  readonly duration: Histogram;
  readonly upstreamLatency: Histogram;
  readonly upstreamErrors: Counter;
  readonly rateLimitDrops: Counter;
  readonly readinessDegraded: Counter;
  readonly ttft: Histogram;
  readonly tpot: Histogram;
  readonly tokens: Counter;
  readonly inflight: Gauge;
  readonly backendUp: Gauge;
  readonly ejections: Counter;
  readonly retries: Counter;
  readonly registryUp: Gauge;
  readonly streamCuts: Counter;
  readonly clientAborts: Counter;
  readonly rateLimitStoreUp: Gauge;
  readonly configReloads: Counter;

  constructor() {
    const r = this.registry;
    registerProcessMetrics(r);
    this.requests = r.counter('router_requests_total', 'Requests answered, by model, HTTP status and canary variant.', ['model', 'code', 'variant']);
    this.duration = r.histogram('router_request_duration_seconds', 'Time from request to the last byte of the response.', ['model'], LATENCY_BUCKETS);
    this.upstreamLatency = r.histogram('router_upstream_latency_seconds', 'Time from sending to a backend to its response headers.', ['backend'], LATENCY_BUCKETS);
    this.upstreamErrors = r.counter('router_upstream_errors_total', 'Failed backend attempts, by kind (connect, timeout, reset, status_5xx, stream_cut).', ['backend', 'kind']);
    this.rateLimitDrops = r.counter('router_rate_limit_drops_total', 'Requests refused by a rate limit, by scope (key, model).', ['scope']);
    this.readinessDegraded = r.counter('router_readiness_degraded_total', 'Readiness checks that answered degraded or unavailable.');
    this.ttft = r.histogram('router_ttft_seconds', 'Time to first token (first streamed chunk) of streamed responses.', ['model'], LATENCY_BUCKETS);
    this.tpot = r.histogram('router_time_per_output_token_seconds', 'Mean time per output chunk after the first, per streamed response.', ['model'], TPOT_BUCKETS);
    this.tokens = r.counter('router_tokens_total', 'Tokens in and out, from the usage the backends report (or counted chunks).', ['model', 'direction']);
    this.inflight = r.gauge('router_inflight_requests', 'Requests being served now.', ['model']);
    this.backendUp = r.gauge('router_backend_up', '1 when the backend is routable (up and not ejected), else 0.', ['backend', 'model']);
    this.ejections = r.counter('router_backend_ejections_total', 'Passive-health ejections.', ['backend']);
    this.retries = r.counter('router_retries_total', 'Attempts on another backend after a failure.', ['model']);
    this.registryUp = r.gauge('router_registry_up', '1 while the registry feed is connected (or no registry is configured).');
    this.streamCuts = r.counter('router_stream_cuts_total', 'Streamed responses the backend ended before [DONE].', ['backend']);
    this.rateLimitStoreUp = r.gauge('router_rate_limit_store_up', '1 while the rate-limit store answers (always 1 for the in-process store).');
    this.configReloads = r.counter('router_config_reloads_total', 'Routing-file reloads, by result (applied, refused).', ['result']);
    this.clientAborts = r.counter('router_client_aborts_total', 'Requests the client abandoned before the end (the backend is not blamed).', ['model']);
  }
}
