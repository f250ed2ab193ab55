// Helpers for the tests of `switchboard up` and `switchboard fleet`: a base port whose whole
// range is free, a scratch folder, and a check that a set of PIDs is gone.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { stringify } from 'yaml';
import { pidAlive } from '../../src/core/index.js';
import { portFree } from '../../src/tools/fleet/ports.js';

/**
 * A router port B with every port a fleet moved there uses free: B, B + 1 (registry) and
 * B + 20 ... B + 20 + 2 × engines (engines and agents).
 */
export async function freeBasePort(engines: number): Promise<number> {
  const offsets = [0, 1, ...Array.from({ length: 2 * engines }, (_, i) => 20 + i)];
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 400) * 100;
    let free = true;
    for (const o of offsets) {
      if (!(await portFree('127.0.0.1', base + o))) {
        free = false;
        break;
      }
    }
    if (free) return base;
  }
  throw new Error('no free port range for a fleet');
}

export function scratchDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function writeFleet(dir: string, name: string, fleet: Record<string, unknown>): string {
  const p = join(dir, name);
  writeFileSync(p, stringify(fleet));
  return p;
}

/** Waits until none of the PIDs exists (a zombie counts as gone); returns the ones left. */
export async function pidsGone(pids: readonly number[], timeoutMs = 10_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = pids.filter(pidAlive);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SIGKILL whatever is left of these PIDs (test clean-up). */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** A small fleet for process tests: fast engines, short drains. */
export function smallFleet(engines: { name: string; model: string; kind?: string; weight?: number }[]): Record<string, unknown> {
  return {
    name: 'test',
    agent: { heartbeat_interval: 2, restart_delay: 0.5, drain_timeout: 3, stop_grace: 3 },
    router: { routing: { policy: 'weighted' } },
    engines: engines.map((e) => ({ ...e, sim: { decodeMs: 1, prefillTokensPerS: 1e6 } })),
  };
}
