// `switchboard fleet`: the fleet's processes in the background, as the seed's deploy_services.sh
// ran them: one PID file per process under run/, output appended to logs/<name>.log. Starting
// a process that runs says so and does nothing; a PID file whose process is gone (or is now
// some other program: PIDs are reused) is stale and replaced. Stopping sends SIGTERM, waits (an
// agent drains its engines first), then SIGKILL; engines an agent left behind are killed too.
import process from 'node:process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describeError, requestJson, sbError, systemClock } from '../../core/index.js';
import { writeFileAtomic } from '../atomic-write.js';
import { pidAlive } from '../../core/index.js';
import { spawnDaemon, tailFile } from './child.js';
import { describeProcess, portNeeds, type PlannedProcess } from './plan.js';
import { assertPortsFree, portHolder } from './ports.js';
import { agentEngines, waitUntil, type Check } from './ready.js';

export interface FleetDirs {
  runDir: string;
  logDir: string;
}

export const pidFile = (d: FleetDirs, p: PlannedProcess): string => join(d.runDir, `${p.name}.pid`);
export const logFile = (d: FleetDirs, p: PlannedProcess): string => join(d.logDir, `${p.name}.log`);

export type ProcessState = 'running' | 'stopped' | 'stale';

export function readPid(file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

/** Whether PID is this fleet process: `switchboard.js <role>` (and, for an agent, its own TOML) on its command line. */
function isOurs(pid: number, p: PlannedProcess): boolean {
  let args: string[];
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return true; // no /proc (macOS): trust the PID file
  }
  const i = args.findIndex((a) => a.endsWith('switchboard.js') || a.endsWith('main.js'));
  if (i === -1 || args[i + 1] !== p.role) return false;
  return p.role !== 'agent' || args.some((a) => a.endsWith(`${p.name}.toml`));
}

export function processState(d: FleetDirs, p: PlannedProcess): { state: ProcessState; pid: number | undefined } {
  const pid = readPid(pidFile(d, p));
  if (pid === undefined) return { state: existsSync(pidFile(d, p)) ? 'stale' : 'stopped', pid };
  return { state: pidAlive(pid) && isOurs(pid, p) ? 'running' : 'stale', pid };
}

/**
 * An engine whose agent died without stopping it (a daemon agent killed outright): the process
 * still listening on the engine's port with that port on its command line (every engine
 * preset passes it), so nothing else is ever taken for it.
 */
export function orphanedEngine(p: PlannedProcess): number | undefined {
  if (p.role !== 'agent' || !p.engine) return undefined;
  const h = portHolder(p.engine.port);
  return h && h.args.includes(String(p.engine.port)) ? h.pid : undefined;
}

async function stopOrphan(p: PlannedProcess, say: (line: string) => void): Promise<void> {
  const pid = orphanedEngine(p);
  if (pid === undefined) return;
  const killed = await stopPid(pid, p.stopGraceMs);
  say(`${describeProcess(p)}: stopped its engine (pid ${pid}, port ${p.engine!.port}), left running when the agent died${killed ? ' (killed)' : ''}`);
}

export interface StartOptions {
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Readiness check; undefined: do not wait. */
  check: Check | undefined;
  say: (line: string) => void;
}

/** Starts one process in the background unless it runs; 'already' when it did. */
export async function startProcess(d: FleetDirs, p: PlannedProcess, o: StartOptions): Promise<'started' | 'already'> {
  const what = describeProcess(p);
  const cur = processState(d, p);
  if (cur.state === 'running') {
    o.say(`${what} is already running (pid ${cur.pid}, ${p.url})`);
    return 'already';
  }
  if (cur.state === 'stale') {
    o.say(`${what}: removing the stale PID file ${pidFile(d, p)}${cur.pid !== undefined ? ` (pid ${cur.pid} is not running it)` : ''}`);
    rmSync(pidFile(d, p), { force: true });
    await stopOrphan(p, o.say);
  }
  await assertPortsFree(portNeeds(p), `Is it running without a PID file in ${d.runDir}? Stop it, or move the fleet with --base-port <port>.`);
  mkdirSync(d.runDir, { recursive: true });
  const log = logFile(d, p);
  const pid = await spawnDaemon(p.argv, log, o.env);
  writeFileAtomic(pidFile(d, p), `${pid}\n`);
  if (o.check) {
    const res = await waitUntil(o.check, {
      timeoutMs: o.timeoutMs,
      exited: (async () => {
        while (pidAlive(pid)) await systemClock.sleep(200);
        return 'exited during start-up';
      })(),
    });
    if (!res.ok) {
      if (pidAlive(pid)) await stopPid(pid, p.stopGraceMs);
      rmSync(pidFile(d, p), { force: true });
      const tail = tailFile(log, 12).map((l) => `\n    ${l}`).join('');
      throw sbError('SB_ERR_FLEET_START', what, `${res.reason} (log: ${log})${tail ? `; its last lines:${tail}` : ''}`);
    }
  }
  o.say(`${what} started: pid ${pid}, ${p.url}, log ${log}`);
  return 'started';
}

/** SIGTERM, wait up to graceMs, then SIGKILL; true when it had to be killed. */
async function stopPid(pid: number, graceMs: number): Promise<boolean> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  const deadline = systemClock.monotonic() + graceMs;
  while (pidAlive(pid) && systemClock.monotonic() < deadline) await systemClock.sleep(100);
  if (!pidAlive(pid)) return false;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
  while (pidAlive(pid)) await systemClock.sleep(50);
  return true;
}

/** Stops one process by its PID file; an agent's engines are checked after it exits. */
export async function stopProcess(d: FleetDirs, p: PlannedProcess, say: (line: string) => void): Promise<'stopped' | 'not-running'> {
  const what = describeProcess(p);
  const cur = processState(d, p);
  if (cur.state !== 'running' || cur.pid === undefined) {
    if (cur.state === 'stale') {
      rmSync(pidFile(d, p), { force: true });
      say(`${what} was not running (stale PID file removed)`);
      await stopOrphan(p, say);
    }
    return 'not-running';
  }
  const engines = p.role === 'agent' ? await agentEngines(p).catch(() => ({ pids: [] as number[], models: [] })) : { pids: [] as number[] };
  const killed = await stopPid(cur.pid, p.stopGraceMs);
  for (const pid of engines.pids.filter(pidAlive)) {
    say(`${what}: engine pid ${pid} outlived its agent: killed`);
    try {
      process.kill(-pid, 'SIGKILL'); // its process group: the engine and its workers
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
  rmSync(pidFile(d, p), { force: true });
  say(`${what} stopped (pid ${cur.pid}${killed ? `, killed after ${p.stopGraceMs / 1000} s` : ''})`);
  return 'stopped';
}

export interface StatusRow {
  name: string;
  role: string;
  pid: number | null;
  state: ProcessState;
  url: string;
  healthy: boolean | null;
  detail: string;
  log: string;
}

async function health(p: PlannedProcess): Promise<{ healthy: boolean; detail: string }> {
  try {
    if (p.role === 'registry') {
      const r = await requestJson<{ registered_services?: number; healthy_services?: number }>(`${p.url}/health`, { timeoutMs: 3000 });
      return { healthy: r.status === 200, detail: r.status === 200 ? `${r.body?.registered_services ?? 0} services, ${r.body?.healthy_services ?? 0} healthy` : `GET /health: ${r.status}` };
    }
    if (p.role === 'router') {
      const r = await requestJson<{ status?: string; reasons?: string[] }>(`${p.url}/health/ready`, { timeoutMs: 3000 });
      const reasons = r.body?.reasons?.length ? `: ${r.body.reasons.join('; ')}` : '';
      return { healthy: r.body?.status === 'ok', detail: `readiness ${r.body?.status ?? r.status}${reasons}` };
    }
    const r = await requestJson<{ agent_status?: string; engines?: { total?: number; ready?: number } }>(`${p.url}/health`, { timeoutMs: 3000 });
    const e = r.body?.engines;
    const ok = r.status === 200 && !!e?.total && e.ready === e.total && r.body?.agent_status !== 'draining';
    return { healthy: ok, detail: `engines ready ${e?.ready ?? 0}/${e?.total ?? 0} (engine :${p.engine!.port})${r.body?.agent_status && r.body.agent_status !== 'running' ? `, ${r.body.agent_status}` : ''}` };
  } catch (err) {
    return { healthy: false, detail: describeError(err) };
  }
}

export async function statusRows(d: FleetDirs, procs: readonly PlannedProcess[]): Promise<StatusRow[]> {
  return Promise.all(
    procs.map(async (p): Promise<StatusRow> => {
      const { state, pid } = processState(d, p);
      const base = { name: p.name, role: p.role, pid: pid ?? null, state, url: p.url, log: logFile(d, p) };
      if (state === 'stale') {
        const orphan = orphanedEngine(p);
        const engine = orphan !== undefined ? `; its engine still runs as pid ${orphan} (stop-all or start-services stops it)` : '';
        return { ...base, healthy: null, detail: `PID file ${pidFile(d, p)} names no running ${p.role}${engine}` };
      }
      if (state !== 'running') return { ...base, healthy: null, detail: 'not started' };
      return { ...base, ...(await health(p)) };
    }),
  );
}

/** 0: everything started is running and healthy; 1: something started is down; 3: nothing runs. */
export function statusExitCode(rows: readonly StatusRow[]): number {
  const started = rows.filter((r) => r.state !== 'stopped');
  if (started.length === 0) return 3;
  return started.every((r) => r.state === 'running' && r.healthy === true) ? 0 : 1;
}
