// When to restart a dead engine and after how long: a pure function of the crash streak, so the
// policy is table-tested without processes or sleeping. A crash-looping engine backs off
// exponentially (with jitter, so the engines of a node that all died together do not restart in
// lockstep) and is declared failed after maxRestarts restarts in a row; an engine that was ready
// for stableAfterMs before it died starts a fresh streak.
import { backoffDelay, type Random } from '../core/index.js';

export interface RestartPolicy {
  /** Restarts in a row before giving up (0: never restart). */
  maxRestarts: number;
  /** Back-off base: the first restart waits between half of it and all of it. */
  restartDelayMs: number;
  /** Back-off ceiling. */
  maxRestartDelayMs: number;
  /** Ready this long before a crash = stable: the streak and the back-off start over. */
  stableAfterMs: number;
}

export type RestartDecision = { action: 'restart'; delayMs: number; streak: number } | { action: 'fail'; streak: number };

/**
 * streakBefore: crashes in a row so far; readyForMs: how long the engine had been ready when it
 * died (undefined: it never became ready).
 */
export function decideRestart(policy: RestartPolicy, streakBefore: number, readyForMs: number | undefined, random: Random): RestartDecision {
  const stable = readyForMs !== undefined && readyForMs >= policy.stableAfterMs;
  const streak = (stable ? 0 : streakBefore) + 1;
  if (streak > policy.maxRestarts) return { action: 'fail', streak };
  return { action: 'restart', streak, delayMs: Math.round(backoffDelay(random, streak - 1, policy.restartDelayMs, policy.maxRestartDelayMs)) };
}
