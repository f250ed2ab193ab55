// Processes by PID: whether one still runs (lock files, PID files, child engines); and the Node
// flags every switchboard process runs with.
import process from 'node:process';
import { readFileSync } from 'node:fs';

/**
 * V8 flags for every switchboard process; bin/switchboard.js's shebang carries the same ones (a
 * test keeps the two equal). `--single-threaded-gc`: the router's garbage is short-lived, and with
 * V8's helper threads (parallel scavenge, concurrent marking) a router that had served streams
 * settled into a state where every scavenge promoted megabytes and took ~13 ms instead of ~1 ms:
 * its CPU per request rose by a quarter (JSON) to a third (SSE) and stayed there. On the GC's own
 * thread that state does not arise (measured in bench-peers runs, pinned to one core as there).
 * The three inlining budgets (V8's defaults 460 / 920 / 4600 bytes of bytecode) let TurboFan inline
 * the request path's small helpers into their callers: 3-4% fewer instructions a request for the
 * router alone and with every gateway policy, JSON and SSE (callgrind, `npm run bench --
 * instructions`, 2026-12-03); 6000 / 30000 / 30000 took only 1% more.
 * These flags are not allowed in NODE_OPTIONS, so they go on the command line.
 */
export const NODE_FLAGS: readonly string[] = [
  '--single-threaded-gc',
  '--max-inlined-bytecode-size=2000',
  '--max-inlined-bytecode-size-cumulative=8000',
  '--max-inlined-bytecode-size-absolute=10000',
];

/** Whether a process with this PID exists (EPERM: it does, owned by someone else); a zombie does not count. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; comm may hold spaces and parentheses
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}
