// The text face of `switchboard status`: a health line for the registry and the router, one row
// per service, the problems, and a last line a cron mail can be read by ("OK: ..." / "DOWN: ...").
import type { FleetStatus, ServiceStatus } from './status.js';

function table(rows: string[][]): string[] {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd());
}

function seconds(s: number): string {
  if (s < 60) return `${+s.toFixed(1)}s`;
  if (s < 3600) return `${Math.round(s / 60)}m`;
  return `${+(s / 3600).toFixed(1)}h`;
}

function load(s: ServiceStatus): string {
  const l = s.load;
  if (!l) return '-';
  const run = l.running === null ? '?' : String(l.running);
  const wait = l.waiting === null ? '?' : String(l.waiting);
  return `${run}/${wait}${l.kvCacheUsage === null ? '' : ` kv ${Math.round(l.kvCacheUsage * 100)}%`}`;
}

function registryCell(s: ServiceStatus): string {
  const r = s.registry;
  if (!r) return '-';
  return `${r.status}${r.isHealthy ? '' : ' !healthy'} probe:${r.healthStatus}`;
}

function registryLine(f: FleetStatus): string | undefined {
  const r = f.registry;
  if (!r) return undefined;
  if (!r.reachable) return `Registry  ${r.url}  DOWN  ${r.error ?? ''}`.trimEnd();
  const counts = r.registered === null ? '' : `  ${r.healthy ?? '?'}/${r.registered} services healthy`;
  return `Registry  ${r.url}  ${r.status ?? '?'}${counts}${r.store ? `  store ${r.store}` : ''}${r.error ? `  (${r.error})` : ''}`;
}

function routerLine(f: FleetStatus): string | undefined {
  const r = f.router;
  if (!r) return undefined;
  if (!r.reachable) return `Router    ${r.url}  DOWN  ${r.error ?? ''}`.trimEnd();
  const counts = r.totalServices === null ? '' : `  ${r.healthyServices ?? '?'}/${r.totalServices} backends routable`;
  const reg = r.registry?.url ? `  registry ${r.registry.connected ? 'connected' : 'UNREACHABLE'} (${r.registry.mode})` : r.registry ? '  static services' : '';
  const why = r.readinessDiscounted ? ' (only by backends that left the registry)' : '';
  return `Router    ${r.url}  ready: ${r.readiness ?? '?'}${why}${counts}${reg}`;
}

export function formatStatus(f: FleetStatus): string {
  const lines = [`Switchboard fleet status at ${f.checkedAt}`, ''];
  for (const l of [registryLine(f), routerLine(f)]) if (l) lines.push(l);
  lines.push('');
  if (f.services.length > 0) {
    const withRouter = f.router !== null;
    const withRegistry = f.registry !== null;
    const head = ['NAME', 'STATE', 'MODELS', 'LOAD run/wait'];
    if (withRegistry) head.push('REGISTRY', 'HEARTBEAT');
    if (withRouter) head.push('REQS', 'ERRS', 'INFLIGHT', 'RESP');
    const rows = [head];
    for (const s of f.services) {
      const row = [s.name, s.ok ? s.state : `${s.state} !`, s.models.join(',') || '-', load(s)];
      if (withRegistry) row.push(registryCell(s), s.registry ? `${seconds(s.registry.heartbeatAgeS)} ago` : '-');
      if (withRouter) {
        const r = s.router;
        row.push(r ? String(r.requests) : '-', r ? String(r.errors) : '-', r ? String(r.inFlight) : '-', r && r.requests > 0 ? `${r.responseTimeS.toFixed(3)}s` : '-');
      }
      rows.push(row);
    }
    lines.push(...table(rows), '');
  }
  if (f.problems.length > 0) {
    lines.push('Problems:', ...f.problems.map((p) => `  - ${p}`), '');
  }
  const s = f.summary;
  const counts = `${s.services} service${s.services === 1 ? '' : 's'}: ${s.up} up, ${s.down} down${s.other > 0 ? `, ${s.other} other` : ''}${f.router ? `; ${s.requests} requests, ${s.errors} errors` : ''}`;
  lines.push(f.ok ? `OK: ${counts}` : `DOWN: ${f.problems.length} problem${f.problems.length === 1 ? '' : 's'}; ${counts}`);
  return lines.join('\n') + '\n';
}
