// `switchboard up`: a whole fleet in the foreground. Start in dependency order, each process
// ready before the next (registry → agents, with their engines registered → router, listing
// every model), print the summary, stream the logs, report a process that dies (an agent's
// records are removed at once so routers route around it) and start it again, with back-off,
// unless it keeps dying, and on Ctrl-C/SIGTERM stop in
// reverse order: the router (no new requests reach a half-stopped fleet), the agents (each
// drains its engines), the registry. Nothing is left running: engine PIDs are checked at the end.
import process from 'node:process';
import type { Writable } from 'node:stream';
import { describeError, requestJson, sbError, systemClock } from '../../core/index.js';
import { pidAlive } from '../../core/index.js';
import { describeExit, FleetChild, type ExitInfo } from './child.js';
import { createPrefixer, formatLogLine } from './log-lines.js';
import { describeProcess, portNeeds, writePlanFiles, type FleetPlan, type PlannedProcess } from './plan.js';
import { assertPortsFree } from './ports.js';
import { agentEngines, agentReady, registryReady, routerReady, waitUntil, type Check } from './ready.js';
import { formatSummary, type RunningInfo } from './summary.js';
import { join } from 'node:path';

export interface UpOptions {
  plan: FleetPlan;
  out: Writable;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  /** Longest wait for each process to be ready. */
  timeoutMs: number;
  /** Process output to <logDir>/<name>.log instead of the terminal. */
  logDir: string | undefined;
  /** Where the agents' engine output goes (for the summary). */
  engineLogDir: string;
  color: boolean;
}

interface Running extends RunningInfo {
  child: FleetChild;
}

/** A process that dies is started again after 1, 2, 4... s (at most 30 s)... */
const RESTART_BASE_MS = 1000;
const RESTART_MAX_MS = 30_000;
/** ...unless it died more than this many times within the window: then it stays down, said so. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;

/** The exit code: 0 after a stop on request; 130 when interrupted before the fleet was ready. */
export async function runUp(o: UpOptions): Promise<number> {
  const { plan, out } = o;
  const began = systemClock.monotonic();
  const prefix = createPrefixer(['up', ...plan.all.map((p) => p.name)], out, o.color);
  const say = (msg: string): void => prefix('up', msg);

  await assertPortsFree(plan.all.flatMap(portNeeds), 'Stop what holds it, or move the whole fleet with --base-port <port> (the router gets that port; every other port moves with it).');
  writePlanFiles(plan);

  const running: Running[] = [];
  let stopping = false;
  /** Set once the whole fleet was ready: a death before that fails the start instead. */
  let started = false;
  /** Deaths per process within the restart window (monotonic ms). */
  const deaths = new Map<string, number[]>();

  const onDeath = async (r: Running, e: ExitInfo): Promise<void> => {
    say(`${describeProcess(r.p)} (pid ${r.pid}) stopped unexpectedly: ${describeExit(e)}; its last lines:`);
    for (const l of r.child.tail(8)) say(`  ${formatLogLine(l)}`);
    if (r.p.role === 'agent') {
      // its engines stop by themselves (they watch their parent); make sure, and take the
      // records out of the registry now rather than when their leases run out
      for (const pid of r.enginePids) if (pidAlive(pid)) process.kill(pid, 'SIGTERM');
      for (const name of [r.p.name, r.p.engine!.recordName]) {
        await requestJson(`${plan.registry.url}/services/${encodeURIComponent(name)}`, { method: 'DELETE', timeoutMs: 2000 }).catch(() => undefined);
      }
      const others = running.filter((x) => x !== r && x.p.role === 'agent' && x.child.running && x.models.some((m) => r.models.includes(m)));
      say(`removed ${r.p.name} and ${r.p.engine!.recordName} from the registry; ${others.length > 0 ? `the router routes ${r.models.join(', ')} to ${others.map((x) => x.p.name).join(', ')}` : `no other engine serves ${r.models.join(', ')}`}`);
    } else if (r.p.role === 'registry') {
      say('the router keeps routing to the engines it knows; agents register again once a registry answers');
    } else {
      say('the router is gone: clients cannot reach the fleet until it is back');
    }
    if (started) await restart(r);
  };

  /** The process again, on the same ports, after a back-off; given up on when it keeps dying. */
  const restart = async (dead: Running): Promise<void> => {
    const now = systemClock.monotonic();
    const recent = (deaths.get(dead.p.name) ?? []).filter((t) => now - t < RESTART_WINDOW_MS);
    recent.push(now);
    deaths.set(dead.p.name, recent);
    const what = describeProcess(dead.p);
    if (recent.length > MAX_RESTARTS) {
      say(`${what} died ${recent.length} times within ${RESTART_WINDOW_MS / 1000} s: not starting it again (its last lines are above). Ctrl-C stops the rest.`);
      return;
    }
    const delayMs = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** (recent.length - 1));
    say(`starting ${what} again in ${delayMs / 1000} s`);
    const waited = await systemClock.sleep(delayMs, o.signal).then(
      () => true,
      () => false,
    );
    if (!waited || stopping) return;
    const r = launch(dead.p);
    r.models = dead.models;
    try {
      await ready(r);
      if (r.p.role === 'agent') await learnEngines(r);
    } catch (err) {
      // dead again: its own death report (and the next restart) follows from launch()
      if (!(err instanceof Interrupted) && r.child.running) say(`${what} (pid ${r.pid}) is not ready: ${describeError(err).split('\n')[0]}`);
      return;
    }
    say(`${what} is back (pid ${r.pid}${r.enginePids.length > 0 ? `, engine pid ${r.enginePids.join(', ')}` : ''})`);
  };

  /** A ready agent's engine PIDs, and its models when the plan did not name them. */
  const learnEngines = async (a: Running): Promise<void> => {
    const e = await agentEngines(a.p).catch(() => ({ pids: [], models: [] }));
    a.enginePids = e.pids;
    if (a.models.length === 0) a.models = e.models;
  };

  const launch = (p: PlannedProcess): Running => {
    const child = new FleetChild(p.argv, {
      env: o.env,
      logFile: o.logDir ? join(o.logDir, `${p.name}.log`) : undefined,
      onLine: o.logDir ? undefined : (line) => prefix(p.name, formatLogLine(line)),
    });
    const r: Running = { p, child, pid: child.pid, enginePids: [], models: p.engine?.models ?? [] };
    running.push(r);
    void child.exited.then((e) => (stopping ? undefined : onDeath(r, e)));
    return r;
  };

  /** What ready means for each kind of process (the router's: listing every model it was given). */
  const checkFor = (r: Running): Check =>
    r.p.role === 'registry' ? registryReady(r.p) : r.p.role === 'agent' ? agentReady(r.p, plan.registry.url) : routerReady(r.p, r.models);

  const ready = async (r: Running): Promise<void> => {
    const res = await waitUntil(checkFor(r), { timeoutMs: o.timeoutMs, signal: o.signal, exited: r.child.exited.then(describeExit) });
    if (res.ok) return;
    if (res.reason === 'interrupted') throw new Interrupted();
    const tail = r.child.tail(12).map((l) => `\n    ${l}`).join('');
    throw sbError('SB_ERR_FLEET_START', describeProcess(r.p), `${res.reason}${tail ? `; its last lines:${tail}` : ''}`);
  };

  try {
    say(`starting fleet "${plan.name}" from ${plan.source}`);
    say(`starting the registry on ${plan.registry.url}`);
    const reg = launch(plan.registry);
    await ready(reg);

    say(`starting ${plan.agents.length} agents: ${plan.agents.map((a) => `${a.name} (engine :${a.engine!.port})`).join(', ')}`);
    const agents = plan.agents.map(launch);
    await Promise.all(agents.map((a) => ready(a)));
    for (const a of agents) await learnEngines(a);

    const models = [...new Set(agents.flatMap((a) => a.models))];
    say(`starting the router on ${plan.router.url}`);
    const router = launch(plan.router);
    router.models = models;
    await ready(router);
  } catch (err) {
    stopping = true;
    if (!(err instanceof Interrupted)) say(`start-up failed: ${describeError(err).split('\n')[0]}`);
    await stopAll(running, say);
    if (err instanceof Interrupted) return 130;
    throw err;
  }

  const infos = [running.find((r) => r.p.role === 'registry')!, ...running.filter((r) => r.p.role === 'agent'), running.find((r) => r.p.role === 'router')!];
  const logsNote = o.logDir
    ? `Process logs: ${o.logDir}/<process>.log; engine output: ${o.engineLogDir}.`
    : `Logs follow, prefixed by process (--logs writes them to files instead); engine output: ${o.engineLogDir}.`;
  out.write(formatSummary(plan, infos, { elapsedMs: systemClock.monotonic() - began, logsNote }) + '\n');
  started = true;

  await new Promise<void>((resolve) => (o.signal.aborted ? resolve() : o.signal.addEventListener('abort', () => resolve(), { once: true })));
  stopping = true;
  say('stopping: the router, then the agents (their engines drain), then the registry');
  await stopAll(running, say);
  return 0;
}

class Interrupted extends Error {}

/** Router, then agents (in parallel: each drains its own engines), then registry; engine PIDs checked last. */
async function stopAll(running: readonly Running[], say: (m: string) => void): Promise<void> {
  const agents = running.filter((r) => r.p.role === 'agent');
  // engine PIDs may have changed since start (an agent restarts a crashed engine)
  await Promise.all(
    agents.map(async (a) => {
      if (!a.child.running) return;
      const e = await agentEngines(a.p).catch(() => undefined);
      if (e) a.enginePids = [...new Set([...a.enginePids, ...e.pids])];
    }),
  );
  let stopped = 0;
  const stop = async (r: Running): Promise<void> => {
    if (!r.child.running) return;
    stopped++;
    const e = await r.child.stop(r.p.stopGraceMs);
    if (e.signal === 'SIGKILL') say(`${describeProcess(r.p)} did not stop within ${r.p.stopGraceMs / 1000} s of SIGTERM: killed`);
    else if (e.code !== 0 && e.code !== null) say(`${describeProcess(r.p)} ${describeExit(e)}`);
  };
  for (const r of running.filter((x) => x.p.role === 'router')) await stop(r);
  await Promise.all(agents.map(stop));
  for (const r of running.filter((x) => x.p.role === 'registry')) await stop(r);
  const left = agents.flatMap((a) => a.enginePids).filter(pidAlive);
  for (const pid of left) {
    say(`engine pid ${pid} was still running after its agent stopped: killed`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  say(`stopped ${stopped} process${stopped === 1 ? '' : 'es'}${left.length > 0 ? ` and ${left.length} leftover engine${left.length === 1 ? '' : 's'}` : ''}`);
}
