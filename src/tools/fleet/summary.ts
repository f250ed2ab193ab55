// What `switchboard up` prints once the fleet is ready: one row per process (PIDs included, so
// an operator can find them in `ps`), the URLs that matter and a curl line to paste.
import type { FleetPlan, PlannedProcess } from './plan.js';

export interface RunningInfo {
  p: PlannedProcess;
  pid: number | undefined;
  enginePids: number[];
  /** Models this process serves (an agent) or lists (the router). */
  models: string[];
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => `  ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}`.trimEnd());
}

function serves(info: RunningInfo): string {
  const p = info.p;
  if (p.role === 'registry') return `service catalog: ${p.url}/services`;
  if (p.role === 'router') return info.models.join(', ');
  const e = p.engine!;
  const tags = [e.kind, e.weight !== undefined ? `weight ${e.weight}` : undefined, e.priority !== undefined ? `priority ${e.priority}` : undefined].filter(Boolean);
  const pids = info.enginePids.length > 0 ? ` pid ${info.enginePids.join(',')}` : '';
  return `${info.models.join(', ')}${tags.length ? ` (${tags.join(', ')})` : ''}  engine :${e.port}${pids}`;
}

/** The model to show in the curl example: a chat model if there is one. */
export function exampleModel(infos: readonly RunningInfo[]): string | undefined {
  const agents = infos.filter((i) => i.p.role === 'agent');
  const chat = agents.find((i) => i.p.engine?.kind === undefined || i.p.engine.kind === 'chat' || i.p.engine.kind === 'all' || !['embeddings', 'rerank'].includes(i.p.engine.kind));
  return (chat ?? agents[0])?.models[0];
}

export function formatSummary(plan: FleetPlan, infos: readonly RunningInfo[], opts: { elapsedMs: number; logsNote: string; stopNote?: string }): string {
  const agents = infos.filter((i) => i.p.role === 'agent').length;
  const router = plan.router.url;
  const model = exampleModel(infos);
  const lines = [
    '',
    `Fleet "${plan.name}" is up in ${(opts.elapsedMs / 1000).toFixed(1)} s: a registry, a router and ${agents} engine${agents === 1 ? '' : 's'} (each with its agent), from ${plan.source}.`,
    '',
    ...table([['process', 'role', 'pid', 'url', 'serves'], ...infos.map((i) => [i.p.name, i.p.role, String(i.pid ?? '-'), i.p.url, serves(i)])]),
    '',
    `  OpenAI API    ${router}/v1      (any OpenAI SDK: base_url="${router}/v1", any api_key)`,
    `  Dashboard     ${router}/dashboard`,
    `  Services      ${plan.registry.url}/services`,
    `  Status        npx switchboard status${plan.registry.port === 8081 && plan.router.port === 8080 ? '' : ` --registry ${plan.registry.url} --router ${router}`}`,
  ];
  if (model !== undefined) {
    lines.push(
      '',
      'Try it:',
      `  curl ${router}/v1/chat/completions -H 'Content-Type: application/json' \\`,
      `    -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hello!"}]}'`,
      `  (add "stream": true to the body for server-sent events)`,
    );
  }
  lines.push('', `${opts.logsNote} ${opts.stopNote ?? 'Ctrl-C stops the fleet (engines drain first).'}`, '');
  return lines.join('\n');
}
