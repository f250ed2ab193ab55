// Usage records: one row per request, batched off the request path into SQLite or PostgreSQL,
// spooled to disk while the database is away. The router uses createUsageRecorder; the
// `switchboard usage` command uses openUsageSink(...).report().
export { createUsageRecorder, USAGE_DEFAULTS, type UsageRecorder, type UsageRecorderOptions, type UsageRecorderStatus } from './recorder.js';
export { registerUsageMetrics } from './metrics.js';
export { openUsageSink, SQLITE_FILE, type OpenSinkOptions } from './open-sink.js';
export { PostgresSink, type PostgresSinkOptions } from './postgres.js';
export { SqliteSink, type SqliteSinkOptions } from './sqlite.js';
export { SPOOL_FILE, SPOOL_LOCK_FILE, UsageSpool } from './spool.js';
export { USAGE_MIGRATIONS, type Migration } from './migrations.js';
export type { StoredUsageRow, UsageRow } from './row.js';
export { REPORT_DIMENSIONS, type Percentiles, type ReportDimension, type UsageQuery, type UsageRange, type UsageReportRow, type UsageSink, type UsageSinkKind } from './sink.js';
