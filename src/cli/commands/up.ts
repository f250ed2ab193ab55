import process from 'node:process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { sbError, systemClock } from '../../core/index.js';
import { prepareRunDir, runningInfo, startAll, stopAll } from '../../tools/fleet/background.js';
import { pidAlive } from '../../core/index.js';
import { planFleet } from '../../tools/fleet/plan.js';
import { loadFleet, type LoadedFleet } from '../../tools/fleet/schema.js';
import { formatSummary } from '../../tools/fleet/summary.js';
import { runUp } from '../../tools/fleet/up.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { boolFlag, durationFlag, intFlag, stringFlag } from '../flags.js';

const STATE_PREFIX = 'switchboard-up-';

/** Removes the state folders of earlier `up` runs that were killed before they could (their PID is in the name). */
function sweepStateDirs(): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^switchboard-up-(\d+)-/.exec(name);
    if (m && !pidAlive(Number(m[1]))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

/** `up --detach`: `fleet start-all`, then the same summary as in the foreground. */
async function detached(ctx: CommandContext, o: { loaded: LoadedFleet; file: string | undefined; basePort: number | undefined; timeoutMs: number; logDir: string; runDir: string }): Promise<number> {
  const began = systemClock.monotonic();
  const dirs = { runDir: o.runDir, logDir: o.logDir };
  const plan = planFleet(o.loaded, { basePort: o.basePort, configDir: join(dirs.runDir, 'config'), engineLogDir: join(dirs.logDir, 'engines') });
  const say = (line: string): void => void ctx.stdout.write(`${line}\n`);
  prepareRunDir(plan, dirs, { file: o.file === undefined ? null : resolve(o.file), basePort: o.basePort ?? null });
  try {
    await startAll(plan, dirs, { env: ctx.env, timeoutMs: o.timeoutMs, say, wait: true });
  } catch (err) {
    say('start-up failed: stopping the fleet\'s processes');
    await stopAll(plan, dirs, say);
    throw err;
  }
  const infos = await runningInfo(plan, dirs);
  ctx.stdout.write(
    formatSummary(plan, infos, {
      elapsedMs: systemClock.monotonic() - began,
      logsNote: `Running in the background: PID files in ${dirs.runDir}, logs in ${dirs.logDir}/<process>.log.`,
      stopNote: '`switchboard fleet status` checks it; `switchboard fleet stop-all` stops it (engines drain first).',
    }) + '\n',
  );
  return 0;
}

export const command: CommandSpec = {
  args: '[fleet.yaml]',
  description: [
    'Starts a whole fleet on this machine and keeps it in the foreground: a registry, then an agent',
    'per engine (simulated engines by default), then a router; each is ready before the next',
    'starts. Prints the processes, URLs and a curl line, then the processes\' logs. A process',
    'that dies is started again (with back-off; not after five deaths within a minute). Ctrl-C or',
    'SIGTERM stops everything in reverse order (the agents drain their engines) and exits 0.',
    'Without a file: the built-in demo fleet (assets/fleet/demo.yaml): router 8080, registry 8081,',
    'five simulated engines on 8100-8109. File keys: docs/configuration.md, "switchboard up".',
  ].join('\n'),
  options: {
    'base-port': { type: 'string', description: 'Put the router on this port and move every other port by the same amount', valueName: 'port', defaultText: 'the file\'s ports' },
    logs: { type: 'boolean', description: 'Write each process\'s output to <log-dir>/<name>.log instead of the terminal' },
    'log-dir': { type: 'string', description: 'Folder for --logs and for the engines\' output files', valueName: 'dir', defaultText: 'logs (with --logs; a temporary folder otherwise)' },
    timeout: { type: 'string', description: 'Longest wait for each process to be ready', valueName: 'seconds', defaultText: '60' },
    'no-color': { type: 'boolean', description: 'No colours in the log prefixes (also NO_COLOR)' },
    detach: { type: 'boolean', description: 'Start the fleet in the background (as switchboard fleet start-all) and exit once it is ready' },
    'run-dir': { type: 'string', description: 'With --detach: PID files and generated config', valueName: 'dir', defaultText: 'run' },
  },
  examples: [
    'switchboard up',
    'switchboard up --base-port 9080            # router 9080, registry 9081, engines 9100...',
    'switchboard up fleet.yaml --logs           # process logs in logs/<name>.log',
    'switchboard up --detach                    # in the background; switchboard fleet stop-all stops it',
  ],
  async run(ctx) {
    const v = ctx.values;
    const [file, ...extra] = ctx.positionals;
    if (extra.length > 0) throw sbError('SB_ERR_USAGE', `unexpected argument '${extra[0]}': one fleet file at most`);
    const loaded = loadFleet(file);
    const basePort = intFlag(v, 'base-port', 1, 65535);
    const timeoutMs = durationFlag(v, 'timeout') ?? 60_000;
    const logs = boolFlag(v, 'logs') === true;
    const logDir = resolve(stringFlag(v, 'log-dir') ?? 'logs');
    if (boolFlag(v, 'detach')) return detached(ctx, { loaded, file, basePort, timeoutMs, logDir, runDir: resolve(stringFlag(v, 'run-dir') ?? 'run') });
    sweepStateDirs();
    const stateDir = mkdtempSync(join(tmpdir(), `${STATE_PREFIX}${process.pid}-`));
    const engineLogDir = logs || stringFlag(v, 'log-dir') !== undefined ? join(logDir, 'engines') : join(stateDir, 'engines');
    try {
      const plan = planFleet(loaded, { basePort, configDir: join(stateDir, 'config'), engineLogDir });
      const tty = (ctx.stdout as { isTTY?: boolean }).isTTY === true;
      return await runUp({
        plan,
        out: ctx.stdout,
        signal: ctx.signal,
        env: ctx.env,
        timeoutMs,
        logDir: logs ? logDir : undefined,
        engineLogDir,
        color: tty && !boolFlag(v, 'no-color') && !ctx.env.NO_COLOR,
      });
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  },
};
