// The whole-fleet operations of `switchboard fleet` (and `up --detach`) on top of daemon.ts's
// one-process ones: the run directory prepared, the engines started together, the fleet started
// and stopped in order, and what is running described for the summary.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeError, sbError } from '../../core/index.js';
import { writeFileAtomic } from '../atomic-write.js';
import { processState, readPid, pidFile, startProcess, stopProcess, type FleetDirs } from './daemon.js';
import { writePlanFiles, type FleetPlan, type PlannedProcess } from './plan.js';
import { agentEngines, agentReady, registryReady, routerReady } from './ready.js';
import type { RunningInfo } from './summary.js';

/** What the last start used, so that status and stop-all find the same fleet without repeating it. */
export interface Remembered {
  file: string | null;
  basePort: number | null;
}

export function readRemembered(runDir: string): Remembered | undefined {
  try {
    return JSON.parse(readFileSync(join(runDir, 'fleet.json'), 'utf8')) as Remembered;
  } catch {
    return undefined;
  }
}

/** Every start rewrites the config files from the fleet file, and remembers which file it was. */
export function prepareRunDir(plan: FleetPlan, dirs: FleetDirs, remember: Remembered): void {
  writePlanFiles(plan);
  writeFileAtomic(join(dirs.runDir, 'fleet.json'), `${JSON.stringify(remember)}\n`);
}

export interface BackgroundOptions {
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  say: (line: string) => void;
  /** Wait for each process to be ready. */
  wait: boolean;
}

/** Starts agents together; their engines register once the registry (if not running here yet) answers. */
export async function startServices(plan: FleetPlan, dirs: FleetDirs, agents: readonly PlannedProcess[], o: BackgroundOptions): Promise<void> {
  const registered = processState(dirs, plan.registry).state === 'running';
  if (!registered) o.say(`note: the registry is not running from ${dirs.runDir}; the engines start, and register once ${plan.registry.url} answers`);
  const results = await Promise.allSettled(agents.map((a) => startProcess(dirs, a, { ...o, check: o.wait ? agentReady(a, registered ? plan.registry.url : undefined) : undefined })));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length === 1) throw failed[0]!.reason;
  if (failed.length > 1) throw sbError('SB_ERR_FLEET_START', `${failed.length} agents`, failed.map((f) => describeError(f.reason)).join('\n'));
}

/** Registry, engines, router, each ready before the next (the router: every model listed). */
export async function startAll(plan: FleetPlan, dirs: FleetDirs, o: BackgroundOptions): Promise<void> {
  await startProcess(dirs, plan.registry, { ...o, check: o.wait ? registryReady(plan.registry) : undefined });
  await startServices(plan, dirs, plan.agents, o);
  const models = [...new Set(plan.agents.flatMap((a) => a.engine?.models ?? []))];
  await startProcess(dirs, plan.router, { ...o, check: o.wait ? routerReady(plan.router, models) : undefined });
}

/** Router, agents (they drain), registry; returns how many were running. */
export async function stopAll(plan: FleetPlan, dirs: FleetDirs, say: (line: string) => void): Promise<number> {
  let stopped = 0;
  const count = (r: string): void => void (r === 'stopped' && stopped++);
  count(await stopProcess(dirs, plan.router, say));
  for (const r of await Promise.all(plan.agents.map((a) => stopProcess(dirs, a, say)))) count(r);
  count(await stopProcess(dirs, plan.registry, say));
  return stopped;
}

/** The summary rows of a fleet running in the background (from its PID files and its agents). */
export async function runningInfo(plan: FleetPlan, dirs: FleetDirs): Promise<RunningInfo[]> {
  const agents = await Promise.all(
    plan.agents.map(async (p): Promise<RunningInfo> => {
      const e = await agentEngines(p).catch(() => ({ pids: [], models: [] }));
      return { p, pid: readPid(pidFile(dirs, p)), enginePids: e.pids, models: p.engine?.models ?? e.models };
    }),
  );
  const models = [...new Set(agents.flatMap((a) => a.models))];
  return [
    { p: plan.registry, pid: readPid(pidFile(dirs, plan.registry)), enginePids: [], models: [] },
    ...agents,
    { p: plan.router, pid: readPid(pidFile(dirs, plan.router)), enginePids: [], models },
  ];
}
