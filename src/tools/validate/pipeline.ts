// `switchboard validate`: InfiniLM-SVC's validation pipeline (reference §6.1 and §6.2) against a
// running fleet or one it starts. Steps run in order; a step whose prerequisites did not pass is
// SKIP (so one failure reads as one FAIL, not a cascade); clean-up always runs, and every process
// started here is stopped before this returns, whatever happened (Ctrl-C included).
import { randomBytes } from 'node:crypto';
import { describeError, isSwitchboardError, systemClock } from '../../core/index.js';
import { Fleet, type FleetOptions } from './fleet.js';
import type { Run, ValidateOptions } from './run.js';
import { SETUP_STEPS } from './steps-setup.js';
import { CLEANUP_STEP, fleetModelStep, ROUTING_STEPS } from './steps-routing.js';

export type { ValidateOptions } from './run.js';

export interface Step {
  id: string;
  title: string;
  /** Steps that must have passed (those not part of this run are ignored). */
  needs: string[];
  /** Runs even after a failure or Ctrl-C (clean-up). */
  always?: boolean;
  selfContainedOnly?: boolean;
  /** Returns the PASS detail; throws (SB_ERR_CHECK_FAILED) to FAIL. */
  run(run: Run): Promise<string>;
}

export type StepStatus = 'PASS' | 'FAIL' | 'SKIP';

export interface StepResult {
  id: string;
  title: string;
  status: StepStatus;
  detail: string;
  ms: number;
}

export interface ValidationReport {
  ok: boolean;
  mode: 'self-contained' | 'running fleet';
  registryUrl: string | null;
  routerUrl: string | null;
  /** The model the two test backends served. */
  model: string;
  interrupted: boolean;
  steps: StepResult[];
  summary: { passed: number; failed: number; skipped: number };
}

export function defaultValidateOptions(over: Partial<ValidateOptions> = {}): ValidateOptions {
  return {
    selfContained: over.registryUrl === undefined && over.routerUrl === undefined,
    backendHost: '127.0.0.1',
    models: [],
    discoveryTimeoutMs: 10_000,
    removalTimeoutMs: 1_000,
    timeoutMs: 30_000,
    id: randomBytes(3).toString('hex'),
    clock: systemClock,
    ...over,
  };
}

export function pipelineSteps(o: ValidateOptions): Step[] {
  return [...SETUP_STEPS, ...ROUTING_STEPS, ...o.models.map(fleetModelStep), CLEANUP_STEP].filter((s) => o.selfContained || !s.selfContainedOnly);
}

export async function runValidation(
  o: ValidateOptions,
  hooks: { signal?: AbortSignal; onStep?: (r: StepResult) => void; fleet?: FleetOptions } = {},
): Promise<ValidationReport> {
  const fleet = new Fleet(hooks.fleet);
  const outer = hooks.signal ?? new AbortController().signal;
  const run: Run = {
    o,
    fleet,
    model: `validate-${o.id}`,
    registryUrl: (o.registryUrl ?? '').replace(/\/+$/, ''),
    routerUrl: (o.routerUrl ?? '').replace(/\/+$/, ''),
    backends: [],
    registered: new Set(),
    discovered: false,
    signal: outer,
  };
  const steps = pipelineSteps(o);
  const inRun = new Set(steps.map((s) => s.id));
  const results: StepResult[] = [];
  const byId = new Map<string, StepResult>();
  const record = (r: StepResult): void => {
    results.push(r);
    byId.set(r.id, r);
    hooks.onStep?.(r);
  };
  try {
    for (const step of steps) {
      if (outer.aborted) {
        if (!step.always) {
          record({ id: step.id, title: step.title, status: 'SKIP', detail: 'interrupted', ms: 0 });
          continue;
        }
        // clean-up gets a signal of its own: Ctrl-C must not stop it from undoing the run
        run.signal = AbortSignal.timeout(Math.max(o.timeoutMs, 10_000));
      }
      const unmet = step.always ? [] : step.needs.filter((n) => inRun.has(n) && byId.get(n)?.status !== 'PASS');
      if (unmet.length > 0) {
        record({ id: step.id, title: step.title, status: 'SKIP', detail: `needs ${unmet.map((n) => `${n} (${byId.get(n)?.status ?? 'not run'})`).join(', ')}`, ms: 0 });
        continue;
      }
      const start = o.clock.monotonic();
      try {
        const detail = await step.run(run);
        record({ id: step.id, title: step.title, status: 'PASS', detail, ms: Math.round(o.clock.monotonic() - start) });
      } catch (err) {
        const ms = Math.round(o.clock.monotonic() - start);
        if (outer.aborted && !step.always) record({ id: step.id, title: step.title, status: 'SKIP', detail: 'interrupted', ms });
        else record({ id: step.id, title: step.title, status: 'FAIL', detail: isSwitchboardError(err) ? err.message : describeError(err), ms });
      }
    }
  } finally {
    await fleet.stopAll();
  }
  const summary = { passed: 0, failed: 0, skipped: 0 };
  for (const r of results) {
    if (r.status === 'PASS') summary.passed++;
    else if (r.status === 'FAIL') summary.failed++;
    else summary.skipped++;
  }
  return {
    ok: summary.failed === 0 && !outer.aborted,
    mode: o.selfContained ? 'self-contained' : 'running fleet',
    registryUrl: run.registryUrl || null,
    routerUrl: run.routerUrl || null,
    model: run.model,
    interrupted: outer.aborted,
    steps: results,
    summary,
  };
}

export function formatStep(r: StepResult, width = 0): string {
  const ms = r.status === 'SKIP' ? '' : ` (${r.ms} ms)`;
  return `${r.status}  ${r.title.padEnd(width)}  ${r.detail}${ms}`;
}

export function formatSummary(rep: ValidationReport): string {
  const s = rep.summary;
  return `${s.passed} passed, ${s.failed} failed${s.skipped > 0 ? `, ${s.skipped} skipped` : ''}${rep.interrupted ? ' (interrupted)' : ''}`;
}
