// Usage-recorder state on the router's /metrics, read from status() at scrape time (nothing on
// the request path). `router_usage_rows_dropped_total` above zero is what an alert watches.
import type { MetricsRegistry } from '../../core/index.js';
import type { UsageRecorder } from './recorder.js';

export function registerUsageMetrics(registry: MetricsRegistry, recorder: Pick<UsageRecorder, 'status'>): void {
  const written = registry.counter('router_usage_rows_written_total', 'Usage rows written to the usage database.');
  const dropped = registry.counter('router_usage_rows_dropped_total', 'Usage rows lost: the spool was full, the disk failed, or a row came after shutdown.');
  const buffered = registry.gauge('router_usage_buffered_rows', 'Usage rows in memory waiting for the next batch.');
  const spooled = registry.gauge('router_usage_spool_rows', 'Usage rows waiting in the spool file for the database.');
  const spoolBytes = registry.gauge('router_usage_spool_bytes', 'Size of the usage spool file in bytes.');
  const pruned = registry.counter('router_usage_rows_pruned_total', 'Usage rows deleted by retention (usageRetentionDays).');
  const up = registry.gauge('router_usage_db_up', '1 when the usage database accepts writes and nothing is spooled, 0 while spooling.');
  registry.onCollect(() => {
    const s = recorder.status();
    written.labels().value = s.written;
    dropped.labels().value = s.dropped;
    pruned.labels().value = s.pruned;
    buffered.set(s.buffered);
    spooled.set(s.spooledRows);
    spoolBytes.set(s.spoolBytes);
    up.set(s.state === 'ok' ? 1 : 0);
  });
}
