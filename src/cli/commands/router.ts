import process from 'node:process';
import { createLogger, parseConfig } from '../../core/index.js';
import { routerConfigSchema } from '../../router/config.js';
import { buildRouter } from '../../router/server.js';
import { untilAborted, type CommandSpec } from '../command.js';
import { boolFlag, durationFlag, fileAndFlagLayers, intFlag, stringFlag } from '../flags.js';

export const command: CommandSpec = {
  description: [
    'The OpenAI-compatible data plane: routes /v1/chat/completions, /v1/completions, /v1/embeddings,',
    '/v1/rerank (and InfiniLM\'s un-prefixed aliases) by model over the backends it discovers in the',
    'registry or reads from a static services file; retries, fails over, streams and meters.',
    'Durations are seconds unless a unit is given (500ms, 5m).',
  ].join('\n'),
  options: {
    'router-port': { type: 'string', description: 'Port to listen on (0 = any free port)', valueName: 'port', defaultText: '8080' },
    port: { type: 'string', description: 'Same as --router-port', valueName: 'port' },
    host: { type: 'string', description: 'Address to bind', valueName: 'addr', defaultText: '127.0.0.1' },
    'registry-url': { type: 'string', description: 'Registry to discover services from (its change feed; polls registries without one)', valueName: 'url' },
    'registry-token': { type: 'string', description: 'Bearer token for the registry (or SWITCHBOARD_TOKEN)', valueName: 'token' },
    'static-services': { type: 'string', description: 'InfiniLM static services JSON file', valueName: 'file' },
    'health-interval': { type: 'string', description: 'Health check interval for static services', valueName: 'seconds', defaultText: '30' },
    'health-timeout': { type: 'string', description: 'Health check timeout', valueName: 'seconds', defaultText: '5' },
    'registry-sync-interval': { type: 'string', description: 'Poll interval against a registry without a change feed', valueName: 'seconds', defaultText: '10' },
    'service-removal-grace-period': { type: 'string', description: 'Keep a service the registry dropped this long', valueName: 'seconds', defaultText: '60' },
    'max-errors': { type: 'string', description: 'Accepted for InfiniLM compatibility; passive health uses passiveHealth.maxFails', valueName: 'n' },
    policy: { type: 'string', description: 'round_robin | weighted | least_connections | random_two | consistent_hash', valueName: 'name', defaultText: 'round_robin' },
    'data-dir': { type: 'string', description: 'Router state: usage records (SQLite usage.db) and their spool; usage records are on when set', valueName: 'dir' },
    'usage-db': { type: 'string', description: 'Usage database: sqlite:<file>, a .db path or postgres://... (needs --data-dir for the spool)', valueName: 'url' },
    'keys-file': { type: 'string', description: 'API keys file (auth.yaml, see switchboard keys); keys are required when set', valueName: 'file' },
    'rate-limit-store': { type: 'string', description: '"memory" or a redis:// URL shared by several routers', valueName: 'store', defaultText: 'memory' },
    'admin-token': { type: 'string', description: 'Bearer token for /services, /stats and admin actions (or SWITCHBOARD_ADMIN_TOKEN)', valueName: 'token' },
    insecure: { type: 'boolean', description: 'Allow binding beyond loopback without an admin token' },
    config: { type: 'string', short: 'c', description: 'Routing file (YAML, JSON or TOML; keys as in docs/configuration.md)', valueName: 'file' },
  },
  examples: [
    'switchboard router --registry-url http://127.0.0.1:8081',
    'switchboard router --router-port 8000 --static-services services.json --policy least_connections',
    'switchboard router --registry-url http://10.0.0.5:18000 --config routing.yaml --host 0.0.0.0 --admin-token "$ADMIN"',
  ],
  async run(ctx) {
    const v = ctx.values;
    const load = () => parseConfig(
      routerConfigSchema,
      fileAndFlagLayers(
        stringFlag(v, 'config'),
        {
          port: intFlag(v, 'router-port', 0, 65535) ?? intFlag(v, 'port', 0, 65535),
          host: stringFlag(v, 'host'),
          registryUrl: stringFlag(v, 'registry-url'),
          registryToken: stringFlag(v, 'registry-token'),
          staticServices: stringFlag(v, 'static-services'),
          healthIntervalMs: durationFlag(v, 'health-interval'),
          healthTimeoutMs: durationFlag(v, 'health-timeout'),
          registrySyncIntervalMs: durationFlag(v, 'registry-sync-interval'),
          removalGraceMs: durationFlag(v, 'service-removal-grace-period'),
          policy: stringFlag(v, 'policy'),
          adminToken: stringFlag(v, 'admin-token'),
          dataDir: stringFlag(v, 'data-dir'),
          usageDb: stringFlag(v, 'usage-db'),
          keysFile: stringFlag(v, 'keys-file'),
          rateLimitStore: stringFlag(v, 'rate-limit-store'),
          insecure: boolFlag(v, 'insecure'),
        },
        { registryToken: ctx.env.SWITCHBOARD_TOKEN || undefined, adminToken: ctx.env.SWITCHBOARD_ADMIN_TOKEN || undefined },
      ),
    );
    const config = load();
    const logger = createLogger({ name: 'router' });
    const router = await buildRouter(config, { logger, reloadConfig: load, configFile: stringFlag(v, 'config') });
    const onHup = (): void => {
      logger.info('SIGHUP: reloading the routing file');
      router.reload();
    };
    process.on('SIGHUP', onHup);
    try {
      await router.listen();
      await untilAborted(ctx.signal);
      logger.info('shutting down');
    } finally {
      process.off('SIGHUP', onHup);
      await router.close();
      logger.flush();
    }
    return 0;
  },
};
