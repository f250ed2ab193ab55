// The switchboard CLI: dispatches to one command module, loaded lazily so that `--help` and
// short commands start fast. The only place that calls process.exit().
import process from 'node:process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isSwitchboardError, packageRoot } from '../core/index.js';
import { formatHelp, parseCommandArgs, type CommandSpec } from './command.js';

interface CommandEntry {
  summary: string;
  load: () => Promise<{ command: CommandSpec }>;
}

const COMMANDS: Record<string, CommandEntry> = {
  // entries are added as each process lands
  agent: { summary: 'Run the node agent (babysitter): supervise an engine, register it, heartbeat its load, drain on SIGTERM', load: () => import('./commands/agent.js') },
  fleet: { summary: 'Run a fleet in the background with PID files and logs/ (deploy_services.sh): start-registry, start-router, start-services, stop-all, status, generate-config', load: () => import('./commands/fleet.js') },
  backup: { summary: 'Back up configuration files, registry records and the usage database into a folder or .tar.gz with a checksummed manifest', load: () => import('./commands/backup.js') },
  keys: { summary: 'Create, list and revoke API keys in the keys file (auth.yaml, stored hashed) that routers read', load: () => import('./commands/keys.js') },
  'nginx-config': { summary: 'Write an nginx load-balancer config for the fleet (generate_nginx_config.py; file, --services or registry)', load: () => import('./commands/nginx-config.js') },
  'render-config': { summary: 'Render engine config files (InfiniLM-Rust TOML, ...) from a deployment JSON through templates', load: () => import('./commands/render-config.js') },
  registry: { summary: 'Run the service registry (InfiniLM-SVC compatible API, leases, probes, change feed)', load: () => import('./commands/registry.js') },
  restore: { summary: 'Verify a backup and put it back: files atomically, usage rows into SQLite or PostgreSQL, records into a running registry', load: () => import('./commands/restore.js') },
  router: { summary: 'Run the OpenAI-compatible router (discovery, balancing, retries, failover, streaming, metrics)', load: () => import('./commands/router.js') },
  services: { summary: 'Register, unregister, list and check services in a registry (register_service.py)', load: () => import('./commands/services.js') },
  sim: { summary: 'Run a simulated OpenAI-compatible engine (batching, KV and prefix cache, vLLM metrics, fault injection)', load: () => import('./commands/sim.js') },
  status: { summary: 'The fleet at a glance: every service with state, models, load, errors, last heartbeat (exit 1 when something is down)', load: () => import('./commands/status.js') },
  up: { summary: 'Start a whole local fleet in the foreground (default: a demo of simulated engines); Ctrl-C stops it', load: () => import('./commands/up.js') },
  usage: { summary: 'Report requests, errors, tokens and latency per API key and model from the usage records', load: () => import('./commands/usage.js') },
  validate: { summary: 'Run the end-to-end validation pipeline (health, discovery, chat, streaming, round robin, errors, deregistration) on a running fleet or one it starts', load: () => import('./commands/validate.js') },
};

const ALIASES: Record<string, string> = { 'registry-client': 'services' };

function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

function topHelp(): string {
  const names = Object.keys(COMMANDS);
  const w = Math.max(...names.map((n) => n.length));
  return [
    'Usage: switchboard <command> [options]',
    '',
    'Switchboard: one OpenAI-compatible endpoint in front of a fleet of inference engines.',
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(w)}  ${COMMANDS[n]!.summary}`),
    '',
    "Run 'switchboard <command> --help' for a command's options.",
    '',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(topHelp());
    return first === undefined ? 1 : 0;
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const name = ALIASES[first] ?? first;
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`switchboard: unknown command '${first}'\n\n${topHelp()}`);
    return 2;
  }
  const { command } = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(formatHelp(name, entry.summary, command));
    return 0;
  }
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      process.stderr.write(`switchboard: second ${sig}, exiting now\n`);
      process.exit(130);
    }
    controller.abort(new Error(sig));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // The children of `switchboard up` stop as on SIGTERM once up is gone (even killed outright):
  // a process whose parent exits is re-parented, so its parent PID changes.
  const parent = process.ppid;
  const orphanCheck =
    process.env.SWITCHBOARD_EXIT_WITH_PARENT === '1'
      ? setInterval(() => {
          if (process.ppid === parent) return;
          clearInterval(orphanCheck);
          process.stderr.write(`switchboard ${name}: the process that started it (pid ${parent}) is gone; stopping\n`);
          controller.abort(new Error('parent exited'));
        }, 1000).unref()
      : undefined;
  try {
    const { values, positionals } = parseCommandArgs(command, rest);
    return await command.run({ values, positionals, stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal });
  } catch (err) {
    if (isSwitchboardError(err)) {
      process.stderr.write(`switchboard ${name}: ${err.message} [${err.code}]\n`);
      if (err.code === 'SB_ERR_USAGE') process.stderr.write(`Run 'switchboard ${name} --help' for usage.\n`);
      return 2;
    }
    process.stderr.write(`switchboard ${name}: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  } finally {
    clearInterval(orphanCheck);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Let stdout drain, then exit even if a library left a handle open.
    setImmediate(() => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`switchboard: ${String(err)}\n`);
    process.exit(1);
  },
);
