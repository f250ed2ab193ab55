// The registry's REST API, InfiniLM-SVC compatible (reference §1.3): same paths, status codes,
// response keys and messages; compact JSON. Errors are `{"error": "<message>", "code": "SB_ERR_..."}`.
import { Buffer } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isSwitchboardError, parseJson, readBody, RouteTable, sbError, type Clock, type Logger } from '../core/index.js';
import type { RegistryConfig } from './config.js';
import type { ChangeFeed } from './feed.js';
import type { RegistryMetrics } from './metrics.js';
import type { Prober } from './prober.js';
import { isHealthy, isoTimestamp, parseHeartbeat, parseRegistration, parseUpdate, toWire } from './record.js';
import type { RegistryStore } from './store/index.js';
import { listServices, serviceEvents } from './watch.js';

export interface RegistryDeps {
  config: RegistryConfig;
  store: RegistryStore;
  feed: ChangeFeed;
  prober: Prober;
  metrics: RegistryMetrics;
  clock: Clock;
  log: Logger;
  startedAtMs: number;
}

export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  query: URLSearchParams;
  requestId: string;
  deps: RegistryDeps;
}

export const JSON_UTF8 = 'application/json; charset=utf-8';

export function reply(x: Exchange, status: number, body: unknown, headers?: Record<string, string | number>): void {
  const payload = JSON.stringify(body);
  x.res.writeHead(status, { 'content-type': JSON_UTF8, 'content-length': Buffer.byteLength(payload), 'x-request-id': x.requestId, ...headers });
  x.res.end(payload);
}

function now(x: Exchange): number {
  return x.deps.clock.now();
}

async function jsonBody(x: Exchange): Promise<unknown> {
  return parseJson(await readBody(x.req, x.deps.config.maxBodyBytes));
}

async function register(x: Exchange): Promise<void> {
  const { deps } = x;
  const service = parseRegistration(await jsonBody(x), now(x), deps.config.leaseTtlMs);
  await deps.store.register(service);
  deps.metrics.registrations.inc();
  deps.log.info({ service: service.name, url: service.url, type: service.metadata.type }, `registered service ${service.name}`);
  reply(x, 201, { message: `Service '${service.name}' registered successfully`, service: toWire(service, now(x)) });
}

async function getOne(x: Exchange, name: string): Promise<void> {
  const s = await x.deps.store.get(name);
  if (!s) throw sbError('SB_ERR_SERVICE_NOT_FOUND', name);
  reply(x, 200, toWire(s, now(x)));
}

/**
 * The original looked the service up before reading the body, so an unknown service is a 404
 * even when the body is bad too. Checked only once the body failed, so a good request pays nothing.
 */
async function unknownFirst<T>(x: Exchange, name: string, parse: () => Promise<T> | T): Promise<T> {
  try {
    return await parse();
  } catch (err) {
    if (isSwitchboardError(err) && err.statusCode === 400 && !(await x.deps.store.get(name))) throw sbError('SB_ERR_SERVICE_NOT_FOUND', name);
    throw err;
  }
}

async function update(x: Exchange, name: string): Promise<void> {
  const patch = await unknownFirst(x, name, async () => parseUpdate(await jsonBody(x)));
  const s = await x.deps.store.update(name, patch, now(x));
  if (!s) throw sbError('SB_ERR_SERVICE_NOT_FOUND', name);
  x.deps.log.info({ service: name, fields: Object.keys(patch) }, `updated service ${name}`);
  reply(x, 200, { message: `Service '${name}' updated successfully`, service: toWire(s, now(x)) });
}

async function unregister(x: Exchange, name: string): Promise<void> {
  if (!(await x.deps.store.remove(name))) throw sbError('SB_ERR_SERVICE_NOT_FOUND', name);
  x.deps.metrics.deregistrations.inc();
  x.deps.log.info({ service: name }, `unregistered service ${name}`);
  reply(x, 200, { message: `Service '${name}' unregistered successfully` });
}

async function heartbeat(x: Exchange, name: string): Promise<void> {
  // The original accepts an empty or non-JSON body as a plain heartbeat; a JSON body may carry
  // status and load (validated).
  let body: unknown;
  const raw = await readBody(x.req, x.deps.config.maxBodyBytes);
  try {
    body = raw.length > 0 ? JSON.parse(raw.toString('utf8')) : undefined;
  } catch {
    body = undefined;
  }
  const input = await unknownFirst(x, name, () => parseHeartbeat(body));
  if (!(await x.deps.store.heartbeat(name, input, now(x)))) {
    x.deps.metrics.heartbeatUnknown.inc();
    throw sbError('SB_ERR_SERVICE_NOT_FOUND', name);
  }
  x.deps.metrics.heartbeatOk.inc();
  reply(x, 200, { message: 'Heartbeat received', timestamp: isoTimestamp(now(x)) });
}

async function serviceHealth(x: Exchange, name: string): Promise<void> {
  const s = await x.deps.store.get(name);
  if (!s) throw sbError('SB_ERR_SERVICE_NOT_FOUND', name);
  await x.deps.prober.checkNow(s);
  const after = (await x.deps.store.get(name)) ?? s;
  reply(x, 200, {
    service: name,
    health_status: after.healthStatus,
    is_healthy: isHealthy(after, now(x)),
    last_heartbeat: after.lastHeartbeatMs / 1000,
    timestamp: isoTimestamp(now(x)),
  });
}

async function health(x: Exchange): Promise<void> {
  const { deps } = x;
  try {
    const list = await deps.store.list();
    const t = now(x);
    reply(x, 200, {
      status: 'healthy',
      registry: 'running',
      registered_services: list.length,
      healthy_services: list.filter((s) => isHealthy(s, t)).length,
      timestamp: isoTimestamp(t),
      store: deps.store.kind,
      index: deps.feed.index,
    });
  } catch (err) {
    reply(x, 503, {
      status: 'unhealthy',
      registry: 'running',
      error: (err as Error).message,
      store: deps.store.kind,
      timestamp: isoTimestamp(now(x)),
    });
  }
}

async function stats(x: Exchange): Promise<void> {
  const list = await x.deps.store.list();
  const t = now(x);
  const healthy = list.filter((s) => isHealthy(s, t)).length;
  const status: Record<string, number> = {};
  const hosts: Record<string, number> = {};
  for (const s of list) {
    status[s.status] = (status[s.status] ?? 0) + 1;
    hosts[s.host] = (hosts[s.host] ?? 0) + 1;
  }
  reply(x, 200, {
    total_services: list.length,
    healthy_services: healthy,
    unhealthy_services: list.length - healthy,
    status_distribution: status,
    host_distribution: hosts,
    uptime: (t - x.deps.startedAtMs) / 1000,
    timestamp: isoTimestamp(t),
  });
}

async function metrics(x: Exchange): Promise<void> {
  const { deps } = x;
  try {
    deps.metrics.setRecords(await deps.store.list(), now(x));
    deps.metrics.setStoreUp(true);
  } catch {
    deps.metrics.setStoreUp(false);
  }
  const text = deps.metrics.registry.render();
  x.res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  x.res.end(text);
}

/** Route patterns double as the bounded `route` metric label. */
export const routes = new RouteTable<Exchange>()
  .add('GET', '/health', health)
  .add('GET', '/services', listServices)
  .add('POST', '/services', register)
  .add('GET', '/services/events', serviceEvents)
  .add('GET', '/services/:name', (x, p) => getOne(x, p.name!))
  .add('PUT', '/services/:name', (x, p) => update(x, p.name!))
  .add('DELETE', '/services/:name', (x, p) => unregister(x, p.name!))
  .add('POST', '/services/:name/heartbeat', (x, p) => heartbeat(x, p.name!))
  .add('GET', '/services/:name/health', (x, p) => serviceHealth(x, p.name!))
  .add('GET', '/stats', stats)
  .add('GET', '/metrics', metrics);

/** Methods that change state and so need the token when one is set. */
export function isWrite(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'DELETE' || method === 'PATCH';
}
