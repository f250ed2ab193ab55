import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MetricsRegistry, registerProcessMetrics } from '../../src/core/index.js';
import { promtoolCheckMetrics } from '../helpers/promtool.js';
import { requireTool } from '../helpers/services.js';

function sample(): MetricsRegistry {
  const r = new MetricsRegistry();
  const c = r.counter('test_requests_total', 'Requests handled.', ['route', 'status']);
  c.labels('/v1/chat', '200').inc();
  c.labels('/v1/chat', '200').inc(2);
  c.labels('weird "path"\\\n', '500').inc();
  r.gauge('test_inflight', 'In-flight requests.').set(3);
  const h = r.histogram('test_duration_seconds', 'Duration.', ['route'], [0.1, 1]);
  h.labels('/a').observe(0.05);
  h.labels('/a').observe(0.5);
  h.labels('/a').observe(5);
  return r;
}

describe('metrics registry', () => {
  it('renders counters, gauges and cumulative histogram buckets', () => {
    const text = sample().render();
    assert.match(text, /^test_requests_total\{route="\/v1\/chat",status="200"\} 3$/m);
    assert.match(text, /^test_requests_total\{route="weird \\"path\\"\\\\\\n",status="500"\} 1$/m);
    assert.match(text, /^test_inflight 3$/m);
    assert.match(text, /^test_duration_seconds_bucket\{route="\/a",le="0.1"\} 1$/m);
    assert.match(text, /^test_duration_seconds_bucket\{route="\/a",le="1"\} 2$/m);
    assert.match(text, /^test_duration_seconds_bucket\{route="\/a",le="\+Inf"\} 3$/m);
    assert.match(text, /^test_duration_seconds_count\{route="\/a"\} 3$/m);
    assert.match(text, /^test_duration_seconds_sum\{route="\/a"\} 5.55$/m);
  });

  it('refuses a wrong label count and duplicate names', () => {
    const r = new MetricsRegistry();
    const c = r.counter('x_total', 'x', ['a']);
    assert.throws(() => c.labels(), /takes 1 labels/);
    assert.throws(() => r.counter('x_total', 'again'), /registered twice/);
  });

  it('passes promtool check metrics', (t) => {
    if (!requireTool(t, 'promtool')) return;
    const r = sample();
    const stop = registerProcessMetrics(r);
    t.after(stop);
    const { ok, output } = promtoolCheckMetrics(r.render());
    assert.ok(ok, output);
  });
});
