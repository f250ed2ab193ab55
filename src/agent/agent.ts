// The agent process (the "babysitter"): its HTTP surface on port + 1, its own registry record,
// the engines of its config file (and of the model API), heartbeats, and a drain on the way out.
import process from 'node:process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  asSwitchboardError,
  bearerChecker,
  closeServer,
  describeError,
  isLoopback,
  listen,
  sbError,
  sendJson,
  silentLogger,
  splitUrl,
  systemClock,
  systemRandom,
  urlOf,
  type Clock,
  type Logger,
  type Random,
} from '../core/index.js';
import { RegistryClient } from '../registry/client.js';
import { agentRoutes, type AgentContext, type Exchange } from './api.js';
import { hostPort, serviceTypeName, type AgentConfig } from './config.js';
import { drainAll, type DrainDeps } from './drain.js';
import { EngineFleet, type GroupSpec } from './engines.js';
import { ModelSnapshot } from './model-snapshot.js';
import { createAgentMetrics } from './metrics.js';
import { Registrar } from './registration.js';

export interface AgentOptions {
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  /** The TOML the config came from (recorded in the agent's metadata, as the original did). */
  configFile?: string | undefined;
  /** Drain timing knobs for tests (poll interval, unknown-load wait). */
  drain?: Partial<Pick<DrainDeps, 'pollMs' | 'unknownLoadWaitMs'>>;
}

export interface Agent {
  readonly fleet: EngineFleet;
  readonly registrar: Registrar;
  /** Listens on host:port+1, registers itself, starts the config file's engine. */
  listen(): Promise<string>;
  readonly url: string | undefined;
  /** Marks everything draining, waits for in-flight work, deregisters, stops the engines. */
  drain(): Promise<void>;
  /** drain(), then closes the HTTP server. Idempotent. */
  close(): Promise<void>;
}

export function buildAgent(config: AgentConfig, opts: AgentOptions = {}): Agent {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? systemRandom;
  const log = opts.logger ?? silentLogger;
  const advertisedUrl = `http://${hostPort(config.advertiseHost, config.agentPort)}`;
  const registrar = new Registrar({
    client: config.registryUrl ? new RegistryClient({ url: config.registryUrl, token: config.registryToken, timeoutMs: 5000 }) : undefined,
    host: config.advertiseHost,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    leaseTtlS: config.leaseTtlS,
    clock,
    random,
    logger: log,
    // called only once the agent runs, after `metrics` below exists
    onHeartbeat: (r) => metrics.heartbeat(r),
    onRegister: () => metrics.registrations.inc(),
  });
  const drainDeps: DrainDeps = { registrar, clock, drainTimeoutMs: config.drainTimeoutMs, logger: log, ...opts.drain };
  const snapshot = config.modelsFile ? new ModelSnapshot(config.modelsFile, log) : undefined;
  // nothing is saved until the saved models are back: a failed start must not empty the file
  let restored = false;
  const apiModels = (): GroupSpec[] => fleet.groups().filter((g) => !g.spec.primary).map((g) => g.spec);
  const onChange = (): void => {
    if (snapshot && restored) void snapshot.save(apiModels());
  };
  const fleet = new EngineFleet({ config, registrar, clock, random, logger: log, agentUrl: advertisedUrl, drain: drainDeps, onChange });
  const metrics = createAgentMetrics(fleet);
  const selfMetadata: Record<string, unknown> = {
    type: serviceTypeName(config.backend.type),
    babysitter: 'enhanced',
    started_at: new Date(clock.now()).toISOString(),
    ...(opts.configFile ? { config_file: opts.configFile } : {}),
  };

  let draining = false;
  const tokenOk = config.adminToken ? bearerChecker(config.adminToken) : undefined;
  const ctx: AgentContext = {
    config,
    fleet,
    metrics,
    clock,
    startedAtMono: clock.monotonic(),
    selfMetadata,
    url: advertisedUrl,
    draining: () => draining,
    checkManage(req) {
      if (tokenOk) {
        if (!tokenOk(req)) throw sbError('SB_ERR_UNAUTHORIZED', 'Model management requires a token: send Authorization: Bearer <admin token>');
      } else if (!isLoopback(config.host)) {
        throw sbError('SB_ERR_AGENT_MANAGEMENT_DISABLED', config.host);
      }
      if (draining) throw sbError('SB_ERR_AGENT_DRAINING');
    },
  };
  const routes = agentRoutes(ctx);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const { path, query } = splitUrl(req.url);
    const x: Exchange = { req, res, path, query };
    try {
      const match = routes.match(method, path);
      if (!match) throw sbError('SB_ERR_NOT_FOUND', method, path);
      if (match === 'method-not-allowed') throw sbError('SB_ERR_METHOD_NOT_ALLOWED', method, path);
      await match.handler(x, match.params);
    } catch (err) {
      const e = asSwitchboardError(err);
      if (e.statusCode >= 500 && e.code === 'SB_ERR_INTERNAL') log.error({ err: e.cause ?? e, method, path }, e.message);
      if (res.headersSent) res.destroy();
      else sendJson(res, e.statusCode, { error: e.message, code: e.code }, e.statusCode === 413 ? { connection: 'close' } : undefined);
    }
  };
  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => void handle(req, res));

  // never leave an engine behind, even when the process is made to exit (a second Ctrl-C)
  const onExit = (): void => fleet.killAll();
  process.on('exit', onExit);

  /** Registers the models the snapshot saved (after the configured engine); one that fails is logged and left out. */
  const restoreModels = async (): Promise<void> => {
    if (!snapshot) return;
    const back = new Set<string>();
    for (const m of snapshot.load()) {
      try {
        await fleet.add({ ...m, primary: false });
        back.add(m.name);
        log.info({ model: m.name, workers: m.minWorkers, file: snapshot.path }, 'model registered again from the model snapshot');
      } catch (err) {
        log.error({ model: m.name, err: describeError(err), file: snapshot.path }, 'model from the model snapshot not registered');
      }
    }
    restored = true;
    // a model registered or removed through the API while these came back is saved now
    const now = apiModels();
    if (now.length !== back.size || now.some((g) => !back.has(g.name))) onChange();
  };

  let url: string | undefined;
  let drained: Promise<void> | undefined;
  let closed: Promise<void> | undefined;
  const drain = (): Promise<void> => {
    drained ??= (async () => {
      draining = true;
      await drainAll(config.name, fleet.replicas(), drainDeps);
      registrar.close();
    })();
    return drained;
  };

  return {
    fleet,
    registrar,
    get url() {
      return url;
    },
    async listen() {
      url = urlOf(await listen(server, config.host, config.agentPort));
      log.info({ url, service: config.name, engine: `${config.backend.type} on port ${config.port}`, registry: config.registryUrl ?? null }, 'listening');
      if (!config.registryUrl) log.info('no registry_url: running without registration');
      await registrar.upsert({ name: config.name, port: config.agentPort, status: 'running', metadata: selfMetadata });
      await fleet.add({ name: config.name, backend: config.backend, metadata: config.metadata, minWorkers: 1, maxWorkers: 1, primary: true });
      await restoreModels();
      registrar.start();
      return url;
    },
    drain,
    close() {
      closed ??= (async () => {
        await drain();
        await closeServer(server, 1000);
        metrics.close();
        process.off('exit', onExit);
      })();
      return closed;
    },
  };
}
