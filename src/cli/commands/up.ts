import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { sbError } from '../../core/index.js';
import { pidAlive } from '../../tools/fleet/child.js';
import { planFleet } from '../../tools/fleet/plan.js';
import { loadFleet } from '../../tools/fleet/schema.js';
import { runUp } from '../../tools/fleet/up.js';
import type { CommandSpec } from '../command.js';
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

export const command: CommandSpec = {
  args: '[fleet.yaml]',
  description: [
    'Starts a whole fleet on this machine and keeps it in the foreground: a registry, then an agent',
    'per engine (simulated engines by default), then a router; each is ready before the next',
    'starts. Prints the processes, URLs and a curl line, then the processes\' logs. Ctrl-C or',
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
  },
  examples: [
    'switchboard up',
    'switchboard up --base-port 9080            # router 9080, registry 9081, engines 9100...',
    'switchboard up fleet.yaml --logs           # process logs in logs/<name>.log',
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
