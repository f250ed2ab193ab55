import { createLogger, parseConfig } from '../../core/index.js';
import { registryConfigSchema } from '../../registry/config.js';
import { buildRegistry } from '../../registry/server.js';
import { untilAborted, type CommandSpec } from '../command.js';
import { boolFlag, durationFlag, fileAndFlagLayers, intFlag, stringFlag } from '../flags.js';

export const command: CommandSpec = {
  description: [
    'The service catalog: register, heartbeat (leases), active health probes, stale clean-up and a',
    'change feed. Speaks InfiniLM-SVC\'s registry API, so its babysitter and register_service.py work',
    'unchanged. Durations are seconds unless a unit is given (500ms, 5m).',
  ].join('\n'),
  options: {
    port: { type: 'string', description: 'Port to listen on (0 = any free port)', valueName: 'port', defaultText: '8081' },
    host: { type: 'string', description: 'Address to bind', valueName: 'addr', defaultText: '127.0.0.1' },
    'health-interval': { type: 'string', description: 'Active probe interval', valueName: 'seconds', defaultText: '30' },
    'health-timeout': { type: 'string', description: 'Active probe timeout', valueName: 'seconds', defaultText: '5' },
    'probe-fall': { type: 'string', description: 'Consecutive failed probes before a service is unhealthy', valueName: 'n', defaultText: '3' },
    'probe-rise': { type: 'string', description: 'Consecutive good probes before it is healthy again', valueName: 'n', defaultText: '2' },
    'no-probes': { type: 'boolean', description: 'Do not probe services actively' },
    'cleanup-interval': { type: 'string', description: 'How often stale services are removed', valueName: 'seconds', defaultText: '60' },
    'cleanup-age': { type: 'string', description: 'Remove a service this long after its last heartbeat', valueName: 'seconds', defaultText: '300' },
    'lease-ttl': { type: 'string', description: 'Default lease: healthy while the last heartbeat is younger', valueName: 'seconds', defaultText: '120' },
    store: { type: 'string', description: '"memory" or a Redis URL (redis://127.0.0.1:6379) shared by several registries', valueName: 'store', defaultText: 'memory' },
    'data-dir': { type: 'string', description: 'Folder for the memory store\'s snapshot (survives restarts)', valueName: 'dir' },
    token: { type: 'string', description: 'Bearer token required for writes (or SWITCHBOARD_TOKEN)', valueName: 'token' },
    insecure: { type: 'boolean', description: 'Allow binding beyond loopback without a token' },
    config: { type: 'string', short: 'c', description: 'Config file (YAML, JSON or TOML; keys as in docs/configuration.md)', valueName: 'file' },
  },
  examples: [
    'switchboard registry',
    'switchboard registry --port 18000 --host 0.0.0.0 --token "$TOKEN" --data-dir /var/lib/switchboard',
    'switchboard registry --store redis://127.0.0.1:6379 --health-interval 10',
  ],
  async run(ctx) {
    const v = ctx.values;
    const config = parseConfig(
      registryConfigSchema,
      fileAndFlagLayers(
        stringFlag(v, 'config'),
        {
          port: intFlag(v, 'port', 0, 65535),
          host: stringFlag(v, 'host'),
          healthIntervalMs: durationFlag(v, 'health-interval'),
          healthTimeoutMs: durationFlag(v, 'health-timeout'),
          probeFall: intFlag(v, 'probe-fall', 1),
          probeRise: intFlag(v, 'probe-rise', 1),
          probes: boolFlag(v, 'no-probes') ? false : undefined,
          cleanupIntervalMs: durationFlag(v, 'cleanup-interval'),
          cleanupAgeMs: durationFlag(v, 'cleanup-age'),
          leaseTtlMs: durationFlag(v, 'lease-ttl'),
          store: stringFlag(v, 'store'),
          dataDir: stringFlag(v, 'data-dir'),
          token: stringFlag(v, 'token'),
          insecure: boolFlag(v, 'insecure'),
        },
        { token: ctx.env.SWITCHBOARD_TOKEN || undefined },
      ),
    );
    const logger = createLogger({ name: 'registry' });
    const registry = await buildRegistry(config, { logger });
    try {
      await registry.listen();
      await untilAborted(ctx.signal);
      logger.info('shutting down');
    } finally {
      await registry.close();
      logger.flush();
    }
    return 0;
  },
};
