// A small Prometheus registry built for the hot path: a labelled child is looked up once and
// kept (e.g. per backend), so recording is a number add, with no per-request allocation.
// Output is the text exposition format 0.0.4 and must pass `promtool check metrics`.
import process from 'node:process';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelText(names: readonly string[], values: readonly string[], extra?: string): string {
  if (names.length === 0 && !extra) return '';
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
  if (extra) parts.push(extra);
  return `{${parts.join(',')}}`;
}

abstract class Metric<Child> {
  readonly #children = new Map<string, { values: string[]; child: Child }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    if (!NAME_RE.test(name)) throw new TypeError(`invalid metric name ${name}`);
    for (const l of labelNames) if (!LABEL_RE.test(l) || l === 'le') throw new TypeError(`invalid label ${l} on ${name}`);
  }

  protected abstract createChild(): Child;
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  protected abstract renderChild(out: string[], labels: string[], child: Child): void;

  /** The child for these label values (created on first use; keep the reference). */
  labels(...values: string[]): Child {
    if (values.length !== this.labelNames.length) {
      throw new TypeError(`${this.name} takes ${this.labelNames.length} labels, got ${values.length}`);
    }
    const key = values.join('\u0001');
    let entry = this.#children.get(key);
    if (!entry) {
      entry = { values, child: this.createChild() };
      this.#children.set(key, entry);
    }
    return entry.child;
  }

  /** Drops a child (e.g. a backend that left) so its series stops being exported. */
  remove(...values: string[]): void {
    this.#children.delete(values.join('\u0001'));
  }

  reset(): void {
    this.#children.clear();
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`);
    for (const { values, child } of this.#children.values()) this.renderChild(out, values, child);
  }
}

export interface CounterChild {
  value: number;
  inc(n?: number): void;
}

class CounterValue implements CounterChild {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

export class Counter extends Metric<CounterChild> {
  readonly type = 'counter';
  protected createChild(): CounterChild {
    return new CounterValue();
  }
  protected renderChild(out: string[], labels: string[], c: CounterChild): void {
    out.push(`${this.name}${labelText(this.labelNames, labels)} ${formatValue(c.value)}`);
  }
  inc(n = 1): void {
    this.labels().inc(n);
  }
}

export interface GaugeChild {
  value: number;
  set(v: number): void;
  inc(n?: number): void;
  dec(n?: number): void;
}

class GaugeValue implements GaugeChild {
  value = 0;
  set(v: number): void {
    this.value = v;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

export class Gauge extends Metric<GaugeChild> {
  readonly type = 'gauge';
  protected createChild(): GaugeChild {
    return new GaugeValue();
  }
  protected renderChild(out: string[], labels: string[], g: GaugeChild): void {
    out.push(`${this.name}${labelText(this.labelNames, labels)} ${formatValue(g.value)}`);
  }
  set(v: number): void {
    this.labels().set(v);
  }
}

export interface HistogramChild {
  observe(v: number): void;
  readonly count: number;
  readonly sum: number;
}

class HistogramValue implements HistogramChild {
  readonly counts: Float64Array;
  count = 0;
  sum = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(v: number): void {
    const b = this.bounds;
    // buckets are few (10-15); a linear scan beats a binary search at this size
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.count++;
    this.sum += v;
  }
}

export const DEFAULT_SECONDS_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export class Histogram extends Metric<HistogramChild> {
  readonly type = 'histogram';
  constructor(name: string, help: string, labelNames: readonly string[], readonly buckets: readonly number[] = DEFAULT_SECONDS_BUCKETS) {
    super(name, help, labelNames);
    for (let i = 1; i < buckets.length; i++) if (buckets[i]! <= buckets[i - 1]!) throw new TypeError(`${name}: buckets must increase`);
  }
  protected createChild(): HistogramChild {
    return new HistogramValue(this.buckets);
  }
  protected renderChild(out: string[], labels: string[], h: HistogramChild): void {
    const v = h as HistogramValue;
    let cum = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      cum += v.counts[i]!;
      out.push(`${this.name}_bucket${labelText(this.labelNames, labels, `le="${formatValue(this.buckets[i]!)}"`)} ${cum}`);
    }
    out.push(`${this.name}_bucket${labelText(this.labelNames, labels, 'le="+Inf"')} ${v.count}`);
    out.push(`${this.name}_sum${labelText(this.labelNames, labels)} ${formatValue(v.sum)}`);
    out.push(`${this.name}_count${labelText(this.labelNames, labels)} ${v.count}`);
  }
  observe(v: number): void {
    this.labels().observe(v);
  }
}

export class MetricsRegistry {
  readonly #metrics = new Map<string, Metric<unknown>>();
  readonly #collectors: (() => void)[] = [];

  #add<M extends Metric<unknown>>(m: M): M {
    if (this.#metrics.has(m.name)) throw new TypeError(`metric ${m.name} registered twice`);
    this.#metrics.set(m.name, m);
    return m;
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.#add(new Gauge(name, help, labelNames));
  }

  histogram(name: string, help: string, labelNames: readonly string[] = [], buckets?: readonly number[]): Histogram {
    return this.#add(new Histogram(name, help, labelNames, buckets));
  }

  /** fn runs before every render: the place to copy current state into gauges. */
  onCollect(fn: () => void): void {
    this.#collectors.push(fn);
  }

  render(): string {
    for (const fn of this.#collectors) fn();
    const out: string[] = [];
    for (const m of this.#metrics.values()) m.render(out);
    out.push('');
    return out.join('\n');
  }
}

/** process_* and nodejs_* metrics in the shape prom-client uses, so dashboards carry over. */
export function registerProcessMetrics(registry: MetricsRegistry): () => void {
  const cpu = registry.counter('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.');
  const rss = registry.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.');
  const heap = registry.gauge('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.');
  const start = registry.gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.');
  const lag = registry.gauge('nodejs_eventloop_lag_p99_seconds', 'The 99th percentile of event loop delay over the last scrape interval.');
  start.set(Math.round(Date.now() / 1000 - process.uptime()));
  const loop = monitorEventLoopDelay({ resolution: 20 });
  loop.enable();
  registry.onCollect(() => {
    const u = process.cpuUsage();
    cpu.labels().value = (u.user + u.system) / 1e6;
    const m = process.memoryUsage();
    rss.set(m.rss);
    heap.set(m.heapUsed);
    lag.set(loop.percentile(99) / 1e9);
    loop.reset();
  });
  return () => loop.disable();
}
