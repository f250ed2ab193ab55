// The agent's HTTP surface on port + 1. GET /health, /models and /info keep the original
// babysitters' shapes (the original router and validation scripts read them); /metrics is ours;
// the model management API follows TorchServe's (list, describe, register, scale, unregister)
// so an operator can change what a node serves without editing files. Errors use the registry's
// envelope `{"error": "<message>", "code": "SB_ERR_..."}`.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  METRICS_CONTENT_TYPE,
  parseJson,
  readBody,
  RouteTable,
  sbError,
  sendJson,
  sendText,
  type Clock,
} from '../core/index.js';
import { parseBackend, serviceTypeName, type AgentConfig, type BackendConfig } from './config.js';
import type { EngineFleet, ModelGroup, Replica } from './engines.js';
import type { AgentMetrics } from './metrics.js';
import type { ModelObject } from './probe.js';

export interface AgentContext {
  readonly config: AgentConfig;
  readonly fleet: EngineFleet;
  readonly metrics: AgentMetrics;
  readonly clock: Clock;
  readonly startedAtMono: number;
  /** The agent's own record metadata (GET /info). */
  readonly selfMetadata: Readonly<Record<string, unknown>>;
  /** The agent's URL as registered. */
  readonly url: string;
  readonly draining: () => boolean;
  /** Throws unless this request may change the agent's models. */
  readonly checkManage: (req: IncomingMessage) => void;
}

export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  query: URLSearchParams;
}

const MAX_BODY_BYTES = 256 * 1024;

/** The replica the original babysitter's fields describe: the config file's engine. */
function primaryReplica(fleet: EngineFleet): Replica | undefined {
  const groups = fleet.groups();
  return (groups.find((g) => g.spec.primary) ?? groups[0])?.replicas[0];
}

function health(c: AgentContext, x: Exchange): void {
  const now = c.clock.now() / 1000;
  const service = x.query.get('service');
  if (service) {
    // what the registry probes for each engine record (metadata.health_url)
    const r = c.fleet.replica(service);
    if (!r) throw sbError('SB_ERR_SERVICE_NOT_FOUND', service);
    const ok = r.supervisor.state === 'ready';
    sendJson(x.res, ok ? 200 : 503, { status: ok ? 'healthy' : 'unhealthy', service, engine_state: r.supervisor.state, port: r.port, timestamp: now });
    return;
  }
  const p = primaryReplica(c.fleet);
  const all = c.fleet.replicas();
  sendJson(x.res, 200, {
    status: 'healthy',
    service: c.config.name,
    babysitter: 'enhanced',
    infinilm_server_running: p?.supervisor.pid !== undefined,
    infinilm_server_port: p && p.supervisor.models.length > 0 ? p.port : null,
    timestamp: now,
    agent_status: c.draining() ? 'draining' : 'running',
    engines: { total: all.length, ready: all.filter((r) => r.supervisor.state === 'ready').length },
  });
}

function servedModels(g: ModelGroup): ModelObject[] {
  const seen = new Map<string, ModelObject>();
  for (const r of g.replicas) for (const m of r.supervisor.models) if (!seen.has(m.id)) seen.set(m.id, m);
  return [...seen.values()];
}

function modelUrl(b: BackendConfig): string {
  switch (b.type) {
    case 'command':
      return b.command;
    case 'vllm':
    case 'llama.cpp':
    case 'tgi':
      return b.model;
    case 'mock':
    case 'sim':
      return `${b.type}:${b.models.join(',')}`;
    case 'infinilm-rust':
      return b.config_file;
    case 'infinilm':
      return b.model_path;
  }
}

/**
 * The original's GET /models (the engine's model list, `{"object":"list","data":[...]}`, 503
 * "InfiniLM server not ready" until an engine is) with TorchServe's `models` list beside it.
 */
function listModels(c: AgentContext, x: Exchange): void {
  const groups = c.fleet.groups();
  const models = groups.map((g) => ({
    modelName: g.spec.name,
    modelUrl: modelUrl(g.spec.backend),
    runtime: g.spec.backend.type,
    workers: g.replicas.length,
    readyWorkers: g.replicas.filter((r) => r.supervisor.state === 'ready').length,
  }));
  const ready = c.fleet.replicas().filter((r) => r.supervisor.state === 'ready');
  if (ready.length === 0 && c.fleet.replicas().length > 0) {
    const e = sbError('SB_ERR_AGENT_ENGINE_NOT_READY');
    sendJson(x.res, e.statusCode, { error: e.message, code: e.code, models });
    return;
  }
  const data = new Map<string, ModelObject>();
  for (const r of ready) for (const m of r.supervisor.models) if (!data.has(m.id)) data.set(m.id, m);
  sendJson(x.res, 200, { object: 'list', data: [...data.values()], models });
}

const WORKER_STATUS = { starting: 'STARTING', ready: 'READY', backoff: 'BACKOFF', failed: 'FAILED', stopping: 'UNLOADING', stopped: 'STOPPED' } as const;

/** TorchServe's describe shape (an array with one entry), with the engine details we have. */
function describeModel(c: AgentContext, x: Exchange, name: string): void {
  const g = c.fleet.get(name);
  if (!g) throw sbError('SB_ERR_AGENT_MODEL_NOT_FOUND', name);
  const { env: _env, ...backend } = g.spec.backend; // env may hold secrets (HF_TOKEN)
  sendJson(x.res, 200, [
    {
      modelName: g.spec.name,
      modelUrl: modelUrl(g.spec.backend),
      runtime: g.spec.backend.type,
      minWorkers: g.spec.minWorkers,
      maxWorkers: g.spec.maxWorkers,
      loadedAtStartup: g.spec.primary,
      registeredAt: new Date(g.registeredAtMs).toISOString(),
      servedModels: servedModels(g).map((m) => m.id),
      backend,
      metadata: g.spec.metadata,
      workers: g.replicas.map((r) => {
        const s = r.supervisor;
        return {
          id: r.recordName,
          status: r.draining && s.state === 'ready' ? 'DRAINING' : WORKER_STATUS[s.state],
          startTime: s.startedAtMs === undefined ? null : new Date(s.startedAtMs).toISOString(),
          pid: s.pid ?? null,
          port: r.port,
          url: r.baseUrl,
          restarts: s.restarts,
          crashStreak: s.streak,
          load: r.lastLoad ?? null,
          logFile: s.logPath ?? null,
          lastExit: s.lastExit ? { code: s.lastExit.code, signal: s.lastExit.signal, error: s.lastExit.error ?? null, at: new Date(s.lastExit.atMs).toISOString(), output: s.lastExit.tail } : null,
        };
      }),
    },
  ]);
}

function info(c: AgentContext, x: Exchange): void {
  const p = primaryReplica(c.fleet);
  const replicas = c.fleet.replicas();
  sendJson(x.res, 200, {
    name: c.config.name,
    host: c.config.advertiseHost,
    port: c.config.agentPort,
    url: c.url,
    metadata: c.selfMetadata,
    service_type: serviceTypeName(c.config.backend.type),
    infinilm_server_port: p && p.supervisor.models.length > 0 ? p.port : null,
    uptime: (c.clock.monotonic() - c.startedAtMono) / 1000,
    restart_count: replicas.reduce((n, r) => n + r.supervisor.restarts, 0),
    engines: replicas.map((r) => ({ name: r.recordName, model: r.group, port: r.port, state: r.supervisor.state, restarts: r.supervisor.restarts })),
  });
}

// ------------------------------------------------------------------ management (writes)

function intParam(v: unknown, field: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw sbError('SB_ERR_INVALID_FIELD', field, `an integer from ${min} to ${max}`).withParam(field);
  return n;
}

function boolParam(v: unknown, field: string): boolean | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw sbError('SB_ERR_INVALID_FIELD', field, 'true or false').withParam(field);
}

async function jsonBody(x: Exchange): Promise<Record<string, unknown>> {
  const body = parseJson(await readBody(x.req, MAX_BODY_BYTES));
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw sbError('SB_ERR_INVALID_JSON', 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

/** Waits until every replica is ready (true) or one has failed (false). */
async function settled(c: AgentContext, g: ModelGroup): Promise<boolean> {
  const deadline = c.clock.monotonic() + c.config.readyTimeoutMs + 1000;
  for (;;) {
    if (g.replicas.some((r) => r.supervisor.state === 'failed')) return false;
    if (g.replicas.every((r) => r.supervisor.state === 'ready')) return true;
    if (c.clock.monotonic() > deadline) return false;
    await c.clock.sleep(100);
  }
}

function failureDetail(g: ModelGroup): string {
  const r = g.replicas.find((x) => x.supervisor.state === 'failed') ?? g.replicas.find((x) => x.supervisor.state !== 'ready');
  const e = r?.supervisor.lastExit;
  if (!r) return 'unknown';
  if (!e) return `${r.recordName} is ${r.supervisor.state}`;
  const how = e.error ?? (e.signal ? `signal ${e.signal}` : `exit code ${e.code}`);
  return `${r.recordName} exited (${how})${e.tail.length ? `; last output: ${e.tail.slice(-3).join(' | ')}` : ''}`;
}

async function registerModel(c: AgentContext, x: Exchange): Promise<void> {
  c.checkManage(x.req);
  const b = await jsonBody(x);
  const q = (k: string): unknown => b[k] ?? x.query.get(k) ?? undefined;
  const name = q('model_name');
  if (typeof name !== 'string' || name.length === 0) throw sbError('SB_ERR_MISSING_FIELD', 'model_name').withParam('model_name');
  if (b.backend === undefined) throw sbError('SB_ERR_MISSING_FIELD', 'backend').withParam('backend');
  const parsed = parseBackend(b.backend);
  if ('field' in parsed) throw sbError('SB_ERR_INVALID_FIELD', parsed.field, parsed.message).withParam(parsed.field);
  const metadata = b.metadata ?? {};
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) throw sbError('SB_ERR_INVALID_FIELD', 'metadata', 'a JSON object').withParam('metadata');
  const workers = intParam(q('initial_workers'), 'initial_workers', 0, 64) ?? 1;
  const maxWorkers = intParam(q('max_workers'), 'max_workers', 0, 64) ?? Math.max(workers, 1);
  const sync = boolParam(q('synchronous'), 'synchronous') ?? false;
  const g = await c.fleet.add({ name, backend: parsed.backend, metadata: metadata as Record<string, unknown>, minWorkers: workers, maxWorkers, primary: false });
  if (!sync) {
    sendJson(x.res, 202, { status: `Model "${name}" registered; ${workers} workers starting` });
    return;
  }
  if (!(await settled(c, g))) {
    const detail = failureDetail(g);
    await c.fleet.remove(name).catch(() => undefined);
    throw sbError('SB_ERR_AGENT_ENGINE_FAILED', name, detail);
  }
  sendJson(x.res, 200, { status: `Model "${name}" registered with ${workers} initial workers` });
}

async function scaleModel(c: AgentContext, x: Exchange, name: string): Promise<void> {
  c.checkManage(x.req);
  const g = c.fleet.get(name);
  if (!g) throw sbError('SB_ERR_AGENT_MODEL_NOT_FOUND', name);
  const min = intParam(x.query.get('min_worker'), 'min_worker', 0, 64);
  const max = intParam(x.query.get('max_worker'), 'max_worker', 0, 64);
  const sync = boolParam(x.query.get('synchronous'), 'synchronous') ?? false;
  const newMin = min ?? g.spec.minWorkers;
  const newMax = max ?? Math.max(g.spec.maxWorkers, newMin);
  const scaling = c.fleet.scale(name, newMin, newMax);
  if (!sync) {
    // validation errors surface now; the engines start (or drain) in the background
    await Promise.race([scaling, c.clock.sleep(0)]);
    scaling.catch(() => undefined);
    sendJson(x.res, 202, { status: 'Processing worker updates...' });
    return;
  }
  await scaling;
  if (!(await settled(c, g))) throw sbError('SB_ERR_AGENT_ENGINE_FAILED', name, failureDetail(g));
  sendJson(x.res, 200, { status: `Workers scaled to ${newMin} for model: ${name}` });
}

async function unregisterModel(c: AgentContext, x: Exchange, name: string): Promise<void> {
  c.checkManage(x.req);
  await c.fleet.remove(name);
  sendJson(x.res, 200, { status: `Model "${name}" unregistered` });
}

export function agentRoutes(c: AgentContext): RouteTable<Exchange> {
  return new RouteTable<Exchange>()
    .add('GET', '/health', (x) => health(c, x))
    .add('GET', '/info', (x) => info(c, x))
    .add('GET', '/metrics', (x) => sendText(x.res, 200, c.metrics.registry.render(), METRICS_CONTENT_TYPE))
    .add('GET', '/models', (x) => listModels(c, x))
    .add('POST', '/models', (x) => registerModel(c, x))
    .add('GET', '/models/:name', (x, p) => describeModel(c, x, p.name!))
    .add('PUT', '/models/:name', (x, p) => scaleModel(c, x, p.name!))
    .add('DELETE', '/models/:name', (x, p) => unregisterModel(c, x, p.name!));
}
