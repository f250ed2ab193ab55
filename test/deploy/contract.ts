// The process contract the deployment files are written against: each process's default port,
// the health endpoints it serves and the metric names it exports. The deploy tests check every
// unit, compose service, manifest, alert and dashboard panel against this table, and check the
// table itself against the real processes that exist (test/deploy/live.test.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { packageRoot } from '../../src/core/index.js';
import { runSwitchboard } from '../helpers/process.js';

export type ProcessKind = 'registry' | 'router' | 'agent' | 'sim';

export interface ProcessContract {
  /** Default port; the agent's is its engine's port + 1 (null here). */
  readonly port: number | null;
  /** Flag that sets the port. */
  readonly portFlag: string | null;
  /** GET paths a probe may use. */
  readonly health: readonly string[];
  /** The path a liveness probe must use, and the one a readiness probe must use. */
  readonly liveness: string;
  readonly readiness: string;
}

export const PROCESSES: Readonly<Record<ProcessKind, ProcessContract>> = {
  registry: { port: 8081, portFlag: '--port', health: ['/health'], liveness: '/health', readiness: '/health' },
  // /health/live: 200 while the process runs; /health/ready: 200 ok/degraded, 503 unavailable.
  router: { port: 8080, portFlag: '--router-port', health: ['/health', '/health/live', '/health/ready'], liveness: '/health/live', readiness: '/health/ready' },
  agent: { port: null, portFlag: null, health: ['/health'], liveness: '/health', readiness: '/health' },
  sim: { port: 8000, portFlag: '--port', health: ['/health'], liveness: '/health', readiness: '/health' },
};

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** Router metrics (issue #5; names fixed), with their labels. */
export const ROUTER_METRICS: Readonly<Record<string, { type: MetricType; labels: readonly string[] }>> = {
  router_requests_total: { type: 'counter', labels: ['model', 'code', 'variant'] },
  router_request_duration_seconds: { type: 'histogram', labels: ['model'] },
  router_upstream_latency_seconds: { type: 'histogram', labels: ['backend'] },
  router_upstream_errors_total: { type: 'counter', labels: ['backend', 'kind'] },
  router_rate_limit_drops_total: { type: 'counter', labels: ['scope'] },
  router_readiness_degraded_total: { type: 'counter', labels: [] },
  router_ttft_seconds: { type: 'histogram', labels: ['model'] },
  router_time_per_output_token_seconds: { type: 'histogram', labels: ['model'] },
  router_tokens_total: { type: 'counter', labels: ['model', 'direction'] },
  router_inflight_requests: { type: 'gauge', labels: ['model'] },
  router_backend_up: { type: 'gauge', labels: ['backend', 'model'] },
  router_backend_ejections_total: { type: 'counter', labels: ['backend'] },
  router_retries_total: { type: 'counter', labels: ['model'] },
  router_registry_up: { type: 'gauge', labels: [] },
};

export const REGISTRY_METRICS: Readonly<Record<string, { type: MetricType; labels: readonly string[] }>> = {
  registry_services: { type: 'gauge', labels: ['state'] },
  registry_probes_total: { type: 'counter', labels: ['result'] },
  registry_heartbeats_total: { type: 'counter', labels: ['result'] },
};

/** Exported by every process, or made by Prometheus itself (`up`). */
export const COMMON_METRICS: Readonly<Record<string, { type: MetricType; labels: readonly string[] }>> = {
  process_cpu_seconds_total: { type: 'counter', labels: [] },
  process_resident_memory_bytes: { type: 'gauge', labels: [] },
  up: { type: 'gauge', labels: ['job', 'instance'] },
};

const ALL_METRICS = { ...ROUTER_METRICS, ...REGISTRY_METRICS, ...COMMON_METRICS };

/** True when `name` is a contract metric or one of a contract histogram's series. */
export function isKnownSeries(name: string): boolean {
  if (name in ALL_METRICS) return true;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  return m !== null && ALL_METRICS[m[1]!]?.type === 'histogram';
}

/** The contract metric a series belongs to (`x_bucket` → `x` for histograms). */
export function baseMetric(name: string): string {
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  return m !== null && ALL_METRICS[m[1]!]?.type === 'histogram' ? m[1]! : name;
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression selects. Strings, label matchers, ranges and grouping
 * clauses are removed first; what is left that is not a function call, keyword or number is a
 * metric name. Enough for the expressions we ship (checked for syntax by promtool separately).
 */
export function promqlMetricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/(^|[^a-zA-Z0-9_:])\d+(\.\d+)?([eE][+-]?\d+)?/g, '$1 ');
  const names = new Set<string>();
  for (const m of s.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = s.slice(m.index + m[0].length).trimStart();
    if (after.startsWith('(') || KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names];
}

export const DEPLOY = join(packageRoot(), 'deploy');

export function readDeploy(...parts: string[]): string {
  return readFileSync(join(DEPLOY, ...parts), 'utf8');
}

/** Every document of a YAML file, parsed strictly (a syntax error or warning throws). */
export function loadYamlDocuments(text: string, what: string): unknown[] {
  return parseAllDocuments(text, { prettyErrors: true, strict: true, uniqueKeys: true, merge: true })
    .filter((d) => d.contents !== null)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${what}: ${d.errors.map((e) => e.message).join('; ')}`);
      if (d.warnings.length > 0) throw new Error(`${what}: ${d.warnings.map((e) => e.message).join('; ')}`);
      return d.toJS({ maxAliasCount: 100 }) as unknown;
    });
}

const helpCache = new Map<string, Promise<Set<string> | null>>();

/** The `--flags` a CLI command lists in its --help, or null when the command does not exist yet. */
export function commandFlags(command: string): Promise<Set<string> | null> {
  let p = helpCache.get(command);
  if (!p) {
    p = runSwitchboard([command, '--help']).then((r) => {
      if (r.code !== 0) return null;
      return new Set([...r.stdout.matchAll(/(?:^|\s)(--[a-z][a-z0-9-]*)/g)].map((m) => m[1]!));
    });
    helpCache.set(command, p);
  }
  return p;
}

/** The `--flags` used in an argument list. */
export function flagsIn(args: readonly string[]): string[] {
  return args.filter((a) => /^--[a-z]/.test(a)).map((a) => a.split('=')[0]!);
}

/** The value after `flag` in an argument list. */
export function flagValue(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

/** The port a process listens on, from its argument list (agent: from its engine port). */
export function processPort(kind: ProcessKind, args: readonly string[], enginePort?: number): number {
  if (kind === 'agent') {
    if (enginePort === undefined) throw new Error('an agent port needs its engine port');
    return enginePort + 1;
  }
  const c = PROCESSES[kind];
  const v = c.portFlag ? flagValue(args, c.portFlag) : undefined;
  return v !== undefined ? Number(v) : c.port!;
}

/** The process an argument list runs (`registry --port 8081` → registry). */
export function processOf(args: readonly string[]): ProcessKind {
  const first = args[0];
  if (first === 'registry' || first === 'router' || first === 'agent' || first === 'sim') return first;
  throw new Error(`not a switchboard process: ${args.join(' ')}`);
}
