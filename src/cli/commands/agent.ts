import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { createLogger, definedOnly, parseConfig, readConfigFile, sbError, sbErrorFrom, type ConfigLayer } from '../../core/index.js';
import { buildAgent } from '../../agent/agent.js';
import { agentConfigSchema } from '../../agent/config.js';
import { backendFromFlags, hasBackendFlags, type LegacyBackendFlags } from '../../agent/legacy-flags.js';
import { untilAborted, type CommandSpec, type OptionValues } from '../command.js';
import { boolFlag, intFlag, listFlag, stringFlag } from '../flags.js';

/** The babysitter file: TOML unless it is named .json/.yaml/.yml (the originals' files are TOML). */
function readAgentFile(file: string): Record<string, unknown> {
  const ext = extname(file).toLowerCase();
  if (ext === '.json' || ext === '.yaml' || ext === '.yml' || ext === '.toml') return readConfigFile(file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw sbErrorFrom(err, 'SB_ERR_CONFIG_FILE', file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(err));
  }
  try {
    return parseToml(text);
  } catch (err) {
    throw sbErrorFrom(err, 'SB_ERR_CONFIG_FILE', file, `not valid toml: ${(err as Error).message}`);
  }
}

function metadataFlag(v: OptionValues): Record<string, unknown> | undefined {
  const text = stringFlag(v, 'metadata');
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw sbError('SB_ERR_USAGE', `--metadata: expected a JSON object, got '${text}'`);
  return parsed as Record<string, unknown>;
}

const BACKEND_FLAGS = ['service-type', 'path', 'command', 'args', 'work-dir', 'env', 'models', 'dev', 'ndev', 'max-batch', 'max-tokens', 'awq', 'request-timeout', 'max-concurrency', 'launch-script'];

/** The flags as a layer shaped like the TOML file (snake_case; durations as given). */
export function agentLayers(v: OptionValues, env: NodeJS.ProcessEnv): { layers: ConfigLayer[]; configFile: string | undefined } {
  const configFile = stringFlag(v, 'config-file') ?? stringFlag(v, 'config');
  const legacy: LegacyBackendFlags = {
    serviceType: stringFlag(v, 'service-type'),
    path: stringFlag(v, 'path'),
    command: stringFlag(v, 'command'),
    args: stringFlag(v, 'args'),
    workDir: stringFlag(v, 'work-dir'),
    env: typeof v.env === 'string' || Array.isArray(v.env) ? ([] as string[]).concat(v.env) : undefined,
    models: listFlag(v, 'models'),
    dev: stringFlag(v, 'dev'),
    ndev: stringFlag(v, 'ndev'),
    maxBatch: stringFlag(v, 'max-batch'),
    maxTokens: stringFlag(v, 'max-tokens'),
    awq: boolFlag(v, 'awq'),
    requestTimeout: stringFlag(v, 'request-timeout'),
    maxConcurrency: stringFlag(v, 'max-concurrency'),
    launchScript: stringFlag(v, 'launch-script'),
  };
  if (configFile && hasBackendFlags(legacy)) {
    const given = BACKEND_FLAGS.filter((f) => v[f] !== undefined).map((f) => `--${f}`);
    throw sbError('SB_ERR_USAGE', `${given.join(', ')} cannot be combined with --config-file: the engine is described by the file's [backend] table`);
  }
  if (!configFile && !hasBackendFlags(legacy)) {
    throw sbError('SB_ERR_USAGE', 'nothing to run: give --config-file <babysitter.toml>, or describe the engine with --service-type/--path, --command/--args, or --models (sim)');
  }
  const babysitter = definedOnly({
    max_restarts: intFlag(v, 'max-restarts', 0),
    restart_delay: stringFlag(v, 'restart-delay'),
    heartbeat_interval: stringFlag(v, 'heartbeat-interval'),
    max_restart_delay: stringFlag(v, 'max-restart-delay'),
    stable_after: stringFlag(v, 'stable-after'),
    ready_timeout: stringFlag(v, 'ready-timeout'),
    drain_timeout: stringFlag(v, 'drain-timeout'),
    stop_grace: stringFlag(v, 'stop-grace'),
    lease_ttl: stringFlag(v, 'lease-ttl'),
    log_dir: stringFlag(v, 'log-dir'),
    log_max_bytes: intFlag(v, 'log-max-bytes', 1024),
    log_files: intFlag(v, 'log-files', 1),
    models_file: stringFlag(v, 'models-file'),
  });
  const flags = definedOnly({
    name: stringFlag(v, 'name'),
    host: stringFlag(v, 'host'),
    // the Python babysitter's default port when there is no file
    port: intFlag(v, 'port', 1, 65534) ?? (configFile ? undefined : 5000),
    registry_url: stringFlag(v, 'registry-url') ?? stringFlag(v, 'registry'),
    router_url: stringFlag(v, 'router-url') ?? stringFlag(v, 'router'),
    advertise_host: stringFlag(v, 'advertise-host'),
    registry_token: stringFlag(v, 'token'),
    admin_token: stringFlag(v, 'admin-token'),
    babysitter: Object.keys(babysitter).length > 0 ? babysitter : undefined,
    backend: configFile ? undefined : backendFromFlags(legacy),
    metadata: metadataFlag(v),
  });
  const layers: ConfigLayer[] = [];
  if (configFile) layers.push({ source: `config file ${configFile}`, values: readAgentFile(configFile) });
  const fromEnv = definedOnly({ registry_token: env.SWITCHBOARD_TOKEN || undefined, admin_token: env.SWITCHBOARD_AGENT_TOKEN || undefined });
  if (Object.keys(fromEnv).length > 0) layers.push({ source: 'environment', values: fromEnv });
  layers.push({ source: 'flags', values: flags });
  return { layers, configFile };
}

const s = (description: string, valueName: string, defaultText?: string) => ({ type: 'string' as const, description, valueName, ...(defaultText ? { defaultText } : {}) });

export const command: CommandSpec = {
  description: [
    'The node agent ("babysitter"): starts an engine, waits until it serves, restarts it with back-off',
    'when it dies, registers itself (port + 1) and the engine (<name>-server) with the registry,',
    'heartbeats with the engine\'s load, re-registers after a registry restart, and drains on',
    'SIGTERM/SIGINT. Reads the InfiniLM-SVC babysitter TOML (--config-file) and accepts the flags of',
    'both original babysitters. HTTP on port + 1: /health, /models, /info, /metrics and a',
    'TorchServe-style model API (POST /models, PUT/DELETE /models/{name}). Durations are seconds',
    'unless a unit is given (500ms, 5m). File keys: docs/configuration.md, "switchboard agent".',
  ].join('\n'),
  options: {
    'config-file': s('Babysitter config (TOML, as infini-babysitter --config-file)', 'file'),
    config: { type: 'string', short: 'c', description: 'Same as --config-file', valueName: 'file' },
    name: { type: 'string', short: 'n', description: 'Service name (default: <service type>-<port>)', valueName: 'name' },
    host: s('Address the engine and the agent bind; also the one registered', 'addr', 'localhost'),
    port: { type: 'string', short: 'p', description: 'Engine port; the agent listens on port + 1', valueName: 'port', defaultText: '5000 without a config file' },
    'advertise-host': s('Host written into registry records (default: host, or the machine name when host is 0.0.0.0)', 'host'),
    'registry-url': s('Registry to register with (none: no registration)', 'url'),
    registry: s('Same as --registry-url (Python babysitter)', 'url'),
    'router-url': s('Accepted for compatibility; unused', 'url'),
    router: s('Same as --router-url (Python babysitter)', 'url'),
    token: s('Bearer token for registry writes (or SWITCHBOARD_TOKEN)', 'token'),
    'admin-token': s('Bearer token for the model API (or SWITCHBOARD_AGENT_TOKEN); required for it beyond loopback', 'token'),
    'max-restarts': s('Restarts in a row before the engine is reported failed', 'n', '10000'),
    'restart-delay': s('First restart delay; doubles per crash in a row, with jitter', 'seconds', '5'),
    'max-restart-delay': s('Ceiling of the restart delay', 'seconds', '300'),
    'stable-after': s('Ready this long before a crash = a fresh start of the back-off and the count', 'seconds', '60'),
    'heartbeat-interval': s('Registry heartbeat interval', 'seconds', '30'),
    'ready-timeout': s('Longest start-up before the engine is restarted', 'seconds', '900'),
    'drain-timeout': s('Longest wait for in-flight requests on shutdown', 'seconds', '30'),
    'stop-grace': s('SIGTERM to SIGKILL', 'seconds', '10'),
    'lease-ttl': s('Lease asked of the registry for each record (registry default: 120)', 'seconds'),
    'log-dir': s('Folder for engine output files', 'dir', 'logs'),
    'log-max-bytes': s('Size at which an engine log file is rotated', 'bytes', '52428800'),
    'log-files': s('Engine log files kept per engine', 'n', '5'),
    'models-file': s('Where models registered through the API are saved, and registered again from at start', 'file', '<log-dir>/models.json'),
    metadata: s('JSON object merged into the engine record\'s metadata (as [metadata])', 'json'),
    'service-type': s('command, vLLM, mock, InfiniLM-Rust, InfiniLM, sim, llama.cpp or tgi', 'type'),
    path: s('Model path (InfiniLM, vLLM, llama.cpp), model id (tgi) or InfiniLM-Rust config file', 'path'),
    command: s('Program to run (service type command), e.g. "python3 server.py"', 'cmd'),
    args: s('Its arguments, space-separated ({port} and {host} are filled in)', 'args'),
    'work-dir': s('Working directory of the engine', 'dir'),
    env: { type: 'string', description: 'KEY=VALUE for the engine (repeatable)', valueName: 'k=v', multiple: true },
    models: s('Models of a sim or mock engine, comma-separated', 'a,b'),
    dev: s('InfiniLM: device type', 'dev', 'nvidia'),
    ndev: s('InfiniLM: number of devices', 'n', '1'),
    'max-batch': s('InfiniLM: max batch size', 'n', '3'),
    'max-tokens': s('InfiniLM: max tokens', 'n'),
    awq: { type: 'boolean', description: 'InfiniLM: AWQ-quantized model' },
    'request-timeout': s('InfiniLM: request timeout', 'seconds', '300'),
    'max-concurrency': s('InfiniLM: max concurrent requests', 'n'),
    'launch-script': s('InfiniLM: path of launch_server.py', 'file', 'scripts/launch_server.py'),
  },
  examples: [
    'switchboard agent --config-file config/babysitter.toml',
    'switchboard agent --port 8100 --models qwen3-8b --registry-url http://127.0.0.1:8081   # a simulated engine',
    'switchboard agent --service-type vLLM --path /models/Qwen3-8B --port 8100 --registry-url http://10.0.0.1:8081',
    'switchboard agent -p 8100 --command "python3 server.py" --args "--port 8100" --registry http://127.0.0.1:8081',
  ],
  async run(ctx) {
    const { layers, configFile } = agentLayers(ctx.values, ctx.env);
    const config = parseConfig(agentConfigSchema, layers);
    const logger = createLogger({ name: 'agent' });
    const agent = buildAgent(config, { logger, configFile: configFile ? resolve(configFile) : undefined });
    try {
      await agent.listen();
      await untilAborted(ctx.signal);
      logger.info('draining: stopping engines after in-flight requests finish');
    } finally {
      await agent.close();
      logger.info('stopped');
      logger.flush();
    }
    return 0;
  },
};
