// The sim's /metrics under vLLM's names (v1 engine), labelled with model_name as vLLM does (the
// first served model name), so dashboards and load-aware routing written for vLLM read the sim
// unchanged. Gauges are copied from the scheduler at scrape time; histograms are fed by the
// scheduler's hooks. Buckets are vLLM's.
import { MetricsRegistry, registerProcessMetrics, type CounterChild, type HistogramChild } from '../core/index.js';
import type { FaultKind } from './faults.js';
import type { SchedulerHooks, SchedulerStats, Sequence } from './scheduler.js';

const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const LATENCY_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];
const TPOT_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];

export interface SimMetrics {
  readonly registry: MetricsRegistry;
  readonly hooks: SchedulerHooks;
  /** A request ended without completing (client gone, dropped by a fault). */
  aborted(): void;
  readonly faultInjected: (kind: FaultKind) => void;
  render(): string;
  close(): void;
}

export function createSimMetrics(modelName: string, stats: () => SchedulerStats): SimMetrics {
  const registry = new MetricsRegistry();
  const stopProcess = registerProcessMetrics(registry);
  const L = ['model_name'];
  const running = registry.gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', L).labels(modelName);
  const waiting = registry.gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', L).labels(modelName);
  const kvUsage = registry.gauge('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.', L).labels(modelName);
  const prefixQueries = registry.counter('vllm:prefix_cache_queries_total', 'Prefix cache queries, in terms of number of queried tokens.', L).labels(modelName);
  const prefixHits = registry.counter('vllm:prefix_cache_hits_total', 'Prefix cache hits, in terms of number of cached tokens.', L).labels(modelName);
  const promptTokens = registry.counter('vllm:prompt_tokens_total', 'Number of prefill tokens processed.', L).labels(modelName);
  const generationTokens = registry.counter('vllm:generation_tokens_total', 'Number of generation tokens processed.', L).labels(modelName);
  const success = registry.counter('vllm:request_success_total', 'Count of successfully processed requests.', ['model_name', 'finished_reason']);
  const finishedStop = success.labels(modelName, 'stop');
  const finishedLength = success.labels(modelName, 'length');
  const finishedAbort = success.labels(modelName, 'abort');
  const ttft = registry.histogram('vllm:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', L, TTFT_BUCKETS).labels(modelName);
  const tpot = registry.histogram('vllm:time_per_output_token_seconds', 'Histogram of time per output token in seconds.', L, TPOT_BUCKETS).labels(modelName);
  const e2e = registry.histogram('vllm:e2e_request_latency_seconds', 'Histogram of e2e request latency in seconds.', L, LATENCY_BUCKETS).labels(modelName);
  const queue = registry.histogram('vllm:request_queue_time_seconds', 'Histogram of time spent in WAITING phase for request.', L, LATENCY_BUCKETS).labels(modelName);
  const faults = registry.counter('switchboard_sim_faults_injected_total', 'Faults injected by the simulated engine, by kind.', ['model_name', 'fault']);
  const faultChildren = new Map<FaultKind, CounterChild>();

  registry.onCollect(() => {
    const s = stats();
    running.set(s.running);
    waiting.set(s.waiting);
    kvUsage.set(s.kvUsage);
    prefixQueries.value = s.prefixQueries;
    prefixHits.value = s.prefixHits;
    promptTokens.value = s.promptTokens;
    generationTokens.value = s.generationTokens;
  });

  const seconds = (h: HistogramChild, from: number | undefined, to: number | undefined): void => {
    if (from !== undefined && to !== undefined) h.observe(Math.max(0, to - from) / 1000);
  };

  const hooks: SchedulerHooks = {
    onAdmit(seq: Sequence) {
      seconds(queue, seq.arrivedAt, seq.admittedAt);
    },
    onFirstToken(seq: Sequence) {
      seconds(ttft, seq.arrivedAt, seq.firstTokenAt);
    },
    onFinish(seq: Sequence) {
      seconds(e2e, seq.arrivedAt, seq.finishedAt);
      if (seq.generated > 1 && seq.firstTokenAt !== undefined && seq.finishedAt !== undefined) {
        tpot.observe((seq.finishedAt - seq.firstTokenAt) / 1000 / (seq.generated - 1));
      }
      (seq.maxTokens > 0 && seq.generated >= seq.maxTokens ? finishedLength : finishedStop).inc();
    },
  };

  return {
    registry,
    hooks,
    aborted: () => finishedAbort.inc(),
    faultInjected: (kind) => {
      let c = faultChildren.get(kind);
      if (!c) {
        c = faults.labels(modelName, kind);
        faultChildren.set(kind, c);
      }
      c.inc();
    },
    render: () => registry.render(),
    close: stopProcess,
  };
}
