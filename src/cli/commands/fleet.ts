import { join, resolve } from 'node:path';
import { sbError } from '../../core/index.js';
import { prepareRunDir, readRemembered, startAll, startServices, stopAll, type Remembered } from '../../tools/fleet/background.js';
import { startProcess, statusExitCode, statusRows, type FleetDirs } from '../../tools/fleet/daemon.js';
import { planFleet, writePlanFiles, type FleetPlan, type PlannedProcess } from '../../tools/fleet/plan.js';
import { registryReady, routerLive } from '../../tools/fleet/ready.js';
import { loadFleet } from '../../tools/fleet/schema.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { boolFlag, durationFlag, intFlag, listFlag, stringFlag } from '../flags.js';

const SUBCOMMANDS = {
  'start-registry': 'Start the registry in the background',
  'start-router': 'Start the router in the background',
  'start-services': 'Start the engines, each with its agent (--engines to pick some)',
  'start-all': 'Start the registry, the engines, then the router, each ready before the next',
  'stop-all': 'Stop the router, the agents (they drain their engines), then the registry',
  status: 'Show each process: PID file, running or not, health (exit 0 ok, 1 something down, 3 nothing runs)',
  'generate-config': 'Write the generated config files (registry.yaml, routing.yaml, agent TOMLs) without starting anything',
} as const;
type Sub = keyof typeof SUBCOMMANDS;

interface Setup {
  plan: FleetPlan;
  dirs: FleetDirs;
  remember: Remembered;
}

function setup(ctx: CommandContext, file: string | undefined): Setup {
  const v = ctx.values;
  const dirs: FleetDirs = { runDir: resolve(stringFlag(v, 'run-dir') ?? 'run'), logDir: resolve(stringFlag(v, 'log-dir') ?? 'logs') };
  const remembered = file === undefined ? readRemembered(dirs.runDir) : undefined;
  const fleetFile = file !== undefined ? resolve(file) : (remembered?.file ?? undefined);
  const basePort = intFlag(v, 'base-port', 1, 65535) ?? (file === undefined ? (remembered?.basePort ?? undefined) : undefined);
  const plan = planFleet(loadFleet(fleetFile), { basePort, configDir: join(dirs.runDir, 'config'), engineLogDir: join(dirs.logDir, 'engines') });
  return { plan, dirs, remember: { file: fleetFile ?? null, basePort: basePort ?? null } };
}

function pickAgents(plan: FleetPlan, names: string[] | undefined): PlannedProcess[] {
  if (!names) return plan.agents;
  const matches = (a: PlannedProcess, n: string): boolean => a.name === n || a.engine?.group === n;
  const picked = plan.agents.filter((a) => names.some((n) => matches(a, n)));
  const unknown = names.filter((n) => !plan.agents.some((a) => matches(a, n)));
  if (unknown.length > 0) throw sbError('SB_ERR_USAGE', `--engines: no engine named ${unknown.join(', ')} in the fleet (it has ${plan.agents.map((a) => a.name).join(', ')})`);
  return picked;
}

async function status(ctx: CommandContext, plan: FleetPlan, dirs: FleetDirs, say: (line: string) => void): Promise<number> {
  const rows = await statusRows(dirs, plan.all);
  const code = statusExitCode(rows);
  if (boolFlag(ctx.values, 'json')) {
    ctx.stdout.write(`${JSON.stringify({ fleet: plan.name, source: plan.source, runDir: dirs.runDir, ok: code === 0, processes: rows }, null, 2)}\n`);
    return code;
  }
  const state = (r: (typeof rows)[number]): string => (r.state === 'running' ? (r.healthy ? 'running' : 'UNHEALTHY') : r.state === 'stale' ? 'DEAD' : 'stopped');
  const table = [['process', 'role', 'pid', 'state', 'url', 'health'], ...rows.map((r) => [r.name, r.role, r.pid === null ? '-' : String(r.pid), state(r), r.url, r.detail])];
  const w = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  for (const r of table) say(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ').trimEnd());
  const running = rows.filter((r) => r.state === 'running').length;
  if (code === 0) say(`fleet "${plan.name}": ${running} process${running === 1 ? '' : 'es'} running and healthy`);
  else if (code === 3) say(`fleet "${plan.name}": nothing is running (no live PID file in ${dirs.runDir})`);
  else say(`fleet "${plan.name}": something is down; logs in ${dirs.logDir}`);
  return code;
}

export const command: CommandSpec = {
  args: '[fleet.yaml]',
  subcommands: SUBCOMMANDS,
  description: [
    'The fleet of `switchboard up`, run in the background the way the seed\'s deploy_services.sh',
    'ran it: PID files in run/ (run/<name>.pid), output appended to logs/<name>.log (logs/registry.log,',
    'logs/router.log, logs/<engine>.log; engine output in logs/engines/), generated config in',
    'run/config/. A start of a running process says so and changes nothing. Without a file: the',
    'file (and --base-port) of the last start in this run directory, else the demo fleet.',
    'File keys: docs/configuration.md, "switchboard up".',
  ].join('\n'),
  options: {
    'run-dir': { type: 'string', description: 'PID files, generated config and fleet.json', valueName: 'dir', defaultText: 'run' },
    'log-dir': { type: 'string', description: 'Process logs (<name>.log) and engine output (engines/)', valueName: 'dir', defaultText: 'logs' },
    'base-port': { type: 'string', description: 'Put the router on this port and move every other port by the same amount', valueName: 'port' },
    engines: { type: 'string', description: 'start-services: only these engines (names from the fleet file)', valueName: 'a,b' },
    timeout: { type: 'string', description: 'Longest wait for each process to be ready', valueName: 'seconds', defaultText: '60' },
    'no-wait': { type: 'boolean', description: 'Start without waiting for readiness' },
    json: { type: 'boolean', description: 'status: print JSON' },
  },
  examples: [
    'switchboard fleet start-registry && switchboard fleet start-router && switchboard fleet start-services',
    'switchboard fleet start-all fleet.yaml --base-port 9080',
    'switchboard fleet status',
    'switchboard fleet stop-all',
    'switchboard fleet generate-config fleet.yaml --run-dir /etc/switchboard',
  ],
  async run(ctx) {
    const [sub, file, ...extra] = ctx.positionals;
    if (sub === undefined) throw sbError('SB_ERR_USAGE', `a subcommand is required: ${Object.keys(SUBCOMMANDS).join(', ')}`);
    if (!(sub in SUBCOMMANDS)) throw sbError('SB_ERR_USAGE', `unknown subcommand '${sub}' (one of ${Object.keys(SUBCOMMANDS).join(', ')})`);
    if (extra.length > 0) throw sbError('SB_ERR_USAGE', `unexpected argument '${extra[0]}': one fleet file at most`);
    const { plan, dirs, remember } = setup(ctx, file);
    const say = (line: string): void => void ctx.stdout.write(`${line}\n`);
    const timeoutMs = durationFlag(ctx.values, 'timeout') ?? 60_000;
    const wait = boolFlag(ctx.values, 'no-wait') !== true;

    const bg = { env: ctx.env, timeoutMs, say, wait };
    switch (sub as Sub) {
      case 'generate-config':
        for (const f of writePlanFiles(plan)) say(`wrote ${f}`);
        return 0;
      case 'status':
        return status(ctx, plan, dirs, say);
      case 'stop-all': {
        const stopped = await stopAll(plan, dirs, say);
        say(stopped === 0 ? 'nothing was running' : `stopped ${stopped} process${stopped === 1 ? '' : 'es'}`);
        return 0;
      }
      case 'start-registry':
        prepareRunDir(plan, dirs, remember);
        await startProcess(dirs, plan.registry, { ...bg, check: wait ? registryReady(plan.registry) : undefined });
        return 0;
      case 'start-router':
        prepareRunDir(plan, dirs, remember);
        await startProcess(dirs, plan.router, { ...bg, check: wait ? routerLive(plan.router) : undefined });
        return 0;
      case 'start-services':
        prepareRunDir(plan, dirs, remember);
        await startServices(plan, dirs, pickAgents(plan, listFlag(ctx.values, 'engines')), bg);
        return 0;
      case 'start-all':
        prepareRunDir(plan, dirs, remember);
        await startAll(plan, dirs, bg);
        say(`fleet "${plan.name}" is running: ${plan.router.url}/v1 (switchboard fleet status; switchboard fleet stop-all)`);
        return 0;
    }
  },
};
