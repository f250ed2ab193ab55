// Taking engines out of service without losing a request: mark the record `draining` (routers
// stop sending new work to it), wait until the engine's own load says nothing is running or
// waiting (bounded), remove the records, and only then stop the engine (SIGTERM, SIGKILL after
// the grace period). The original babysitters unregistered and killed at once (Python) or were
// killed outright by SIGTERM with nothing unregistered (Rust).
import { silentLogger, type Clock, type Logger } from '../core/index.js';
import type { EngineLoad } from './presets/index.js';
import type { Registrar } from './registration.js';
import type { Supervisor } from './supervisor.js';

export interface DrainDeps {
  registrar: Registrar;
  clock: Clock;
  /** The longest the in-flight wait may take. */
  drainTimeoutMs: number;
  /** How often the engine's load is read while waiting. */
  pollMs?: number;
  /**
   * An engine whose load cannot be read (no metrics) gets this long, bounded by
   * drainTimeoutMs, for what it may still be doing.
   */
  unknownLoadWaitMs?: number;
  logger?: Logger;
}

/** What drain needs of an engine replica. */
export interface Drainable {
  readonly recordName: string;
  readonly supervisor: Supervisor;
  draining: boolean;
  readLoad(): Promise<EngineLoad | undefined>;
  readonly preset: { readonly readLoad: unknown };
}

export type IdleOutcome = 'idle' | 'timeout' | 'unknown' | 'not-running';

/**
 * Waits until the engine has nothing running or waiting at two reads in a row (a request the
 * router sent just before it saw `draining` may still be on its way), or until the time-out.
 */
export async function waitIdle(r: Drainable, d: DrainDeps): Promise<IdleOutcome> {
  if (r.supervisor.state !== 'ready') return 'not-running';
  const deadline = d.clock.monotonic() + d.drainTimeoutMs;
  const poll = d.pollMs ?? 250;
  if (!r.preset.readLoad) {
    await d.clock.sleep(Math.min(d.unknownLoadWaitMs ?? 5000, d.drainTimeoutMs));
    return 'unknown';
  }
  let idleReads = 0;
  for (;;) {
    const load = await r.readLoad().catch(() => undefined);
    if (r.supervisor.state !== 'ready') return 'not-running';
    idleReads = load && (load.running ?? 0) + (load.waiting ?? 0) === 0 ? idleReads + 1 : 0;
    if (idleReads >= 2) return 'idle';
    const left = deadline - d.clock.monotonic();
    if (left <= 0) return 'timeout';
    await d.clock.sleep(Math.min(poll, left));
  }
}

/** One replica out of service: draining, wait, deregister, stop. */
export async function drainReplica(r: Drainable, d: DrainDeps): Promise<IdleOutcome> {
  const log = d.logger ?? silentLogger;
  r.draining = true;
  await d.registrar.setStatus(r.recordName, 'draining');
  const outcome = await waitIdle(r, d);
  if (outcome === 'timeout') log.warn({ engine: r.recordName, drainTimeoutMs: d.drainTimeoutMs }, `engine ${r.recordName} still had requests after the drain time-out; stopping it anyway`);
  await d.registrar.remove(r.recordName);
  await r.supervisor.stop();
  log.info({ engine: r.recordName, outcome }, `engine ${r.recordName} drained and stopped`);
  return outcome;
}

/**
 * The whole agent out of service (SIGTERM/SIGINT): every record `draining`, every engine idle
 * (in parallel, bounded), every record removed, then every engine stopped.
 */
export async function drainAll(selfName: string, replicas: readonly Drainable[], d: DrainDeps): Promise<void> {
  const log = d.logger ?? silentLogger;
  for (const r of replicas) r.draining = true;
  await Promise.all([d.registrar.setStatus(selfName, 'draining'), ...replicas.map((r) => d.registrar.setStatus(r.recordName, 'draining'))]);
  log.info({ engines: replicas.map((r) => r.recordName) }, 'draining: waiting for in-flight requests');
  const outcomes = await Promise.all(replicas.map((r) => waitIdle(r, d)));
  outcomes.forEach((o, i) => {
    if (o === 'timeout') log.warn({ engine: replicas[i]!.recordName }, `engine ${replicas[i]!.recordName} still had requests after the drain time-out; stopping it anyway`);
  });
  await Promise.all([...replicas.map((r) => d.registrar.remove(r.recordName)), d.registrar.remove(selfName)]);
  await Promise.all(replicas.map((r) => r.supervisor.stop()));
  log.info('drained: records removed, engines stopped');
}
