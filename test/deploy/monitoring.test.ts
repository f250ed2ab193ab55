// deploy/monitoring: the alert rules pass `promtool check rules` and their unit tests
// (`promtool test rules`, synthetic series that fire HighErrorRate, BackendDown and the others),
// prometheus.yml passes `promtool check config`, and the Grafana dashboard is a real dashboard
// whose every query is valid PromQL (promtool again) over the contract's metric names only.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { packageRoot } from '../../src/core/index.js';
import { requireTool, toolPath } from '../helpers/services.js';
import { baseMetric, DEPLOY, isKnownSeries, loadYamlDocuments, promqlMetricNames, readDeploy, ROUTER_METRICS } from './contract.js';

function promtool(args: string[], cwd = join(DEPLOY, 'monitoring')): { ok: boolean; output: string } {
  const r = spawnSync(toolPath('promtool'), args, { encoding: 'utf8', cwd });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rules = (loadYamlDocuments(readDeploy('monitoring', 'alerts.yaml'), 'alerts.yaml')[0] as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: { refId: string; expr: string; legendFormat?: string }[];
  repeat?: string;
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
}

const dashboard = JSON.parse(readDeploy('monitoring', 'grafana-dashboard.json')) as Dashboard;
const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

/** Grafana's variables replaced by what Prometheus would receive for "All" and a 1m step. */
function expand(expr: string): string {
  return expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$(instance|model|variant)\b/g, '.*');
}

function scratch(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-promtool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('alert rules', () => {
  it('promtool check rules accepts alerts.yaml', (t) => {
    if (!requireTool(t, 'promtool')) return;
    const r = promtool(['check', 'rules', 'alerts.yaml']);
    assert.ok(r.ok, r.output);
    assert.match(r.output, /SUCCESS: 6 rules found/);
  });

  it('promtool test rules: the unit tests fire HighErrorRate and BackendDown (and the rest) on synthetic series', (t) => {
    if (!requireTool(t, 'promtool')) return;
    const tests = readDeploy('monitoring', 'alerts.test.yaml');
    for (const alert of ['HighErrorRate', 'BackendDown', 'ServiceDown', 'RateLimitStorm', 'RegistryUnreachable', 'HighTTFT']) {
      assert.match(tests, new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`), `a test expects ${alert} to fire`);
    }
    const r = promtool(['test', 'rules', 'alerts.test.yaml']);
    assert.ok(r.ok, r.output);
    assert.match(r.output, /SUCCESS/);
  });

  it('promtool test rules fails when a threshold is wrong (the unit tests can fail)', (t) => {
    if (!requireTool(t, 'promtool')) return;
    const dir = scratch(t);
    const broken = readDeploy('monitoring', 'alerts.yaml').replace('[5m])) > 0.1', '[5m])) > 5').replace('max by (backend, model) (router_backend_up)', 'min by (backend, model) (router_backend_up)');
    writeFileSync(join(dir, 'alerts.yaml'), broken);
    writeFileSync(join(dir, 'alerts.test.yaml'), readDeploy('monitoring', 'alerts.test.yaml'));
    const r = promtool(['test', 'rules', 'alerts.test.yaml'], dir);
    assert.equal(r.ok, false);
    assert.match(r.output, /name: HighErrorRate/);
    assert.match(r.output, /name: BackendDown/);
  });

  it('the seeds\' HighErrorRate and ServiceDown keep their thresholds, windows and severities', () => {
    const byName = new Map(rules.map((r) => [r.alert, r]));
    const high = byName.get('HighErrorRate')!;
    assert.match(high.expr, /rate\(router_requests_total\{code=~"5\.\."\}\[5m\]\)\)? > 0\.1$/);
    assert.equal(high.for, '2m');
    assert.equal(high.labels?.severity, 'warning');
    assert.equal(high.annotations?.summary, 'High error rate detected');
    const down = byName.get('ServiceDown')!;
    assert.match(down.expr, /^up\{job=~"[^"]+"\} == 0$/);
    assert.ok(new RegExp(down.expr.match(/job=~"([^"]+)"/)![1]!).test('switchboard-router'), 'ServiceDown covers the router (the seeds\' gateway)');
    assert.equal(down.for, '1m');
    assert.equal(down.labels?.severity, 'critical');
    for (const name of ['BackendDown', 'RateLimitStorm', 'RegistryUnreachable', 'HighTTFT']) assert.ok(byName.has(name), name);
  });

  it('every alert selects only contract metrics and has a severity and a summary', () => {
    for (const r of rules) {
      for (const n of promqlMetricNames(r.expr)) assert.ok(isKnownSeries(n), `${r.alert}: ${n} is not a Switchboard metric`);
      assert.match(r.labels?.severity ?? '', /^(warning|critical)$/, `${r.alert} severity`);
      assert.ok(r.annotations?.summary, `${r.alert} summary`);
    }
  });

  it('promtool check config accepts prometheus.yml with the jobs the alerts match', (t) => {
    if (!requireTool(t, 'promtool')) return;
    const r = promtool(['check', 'config', 'prometheus.yml']);
    assert.ok(r.ok, r.output);
    const cfg = loadYamlDocuments(readDeploy('monitoring', 'prometheus.yml'), 'prometheus.yml')[0] as { scrape_configs: { job_name: string }[]; rule_files: string[] };
    const jobs = cfg.scrape_configs.map((s) => s.job_name);
    const serviceDown = new RegExp(`^(?:${/job=~"([^"]+)"/.exec(rules.find((x) => x.alert === 'ServiceDown')!.expr)![1]!})$`);
    for (const j of ['switchboard-router', 'switchboard-registry', 'switchboard-agent']) {
      assert.ok(jobs.includes(j), `scrape job ${j}`);
      assert.ok(serviceDown.test(j), `ServiceDown watches ${j}`);
    }
    assert.deepEqual(cfg.rule_files, ['alerts.yaml']);
  });
});

describe('Grafana dashboard', () => {
  it('is a dashboard: uid, title, schema version, unique panel ids, panels inside the 24-column grid', () => {
    assert.equal(dashboard.uid, 'switchboard-overview');
    assert.ok(dashboard.title);
    assert.ok(dashboard.schemaVersion >= 36);
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const p of dashboard.panels) {
      assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title} fits the grid`);
      if (p.type === 'row') continue;
      assert.ok(['timeseries', 'stat', 'state-timeline', 'gauge', 'table', 'bargauge'].includes(p.type), `${p.title}: ${p.type}`);
      assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `${p.title} uses the datasource variable`);
      assert.ok((p.targets ?? []).length > 0, `${p.title} has queries`);
    }
    const vars = dashboard.templating.list.map((v) => v.name);
    for (const v of ['datasource', 'model', 'variant']) assert.ok(vars.includes(v), `variable ${v}`);
  });

  it('every query is valid PromQL (promtool, with Grafana variables expanded)', (t) => {
    if (!requireTool(t, 'promtool')) return;
    const dir = scratch(t);
    const file = join(dir, 'dashboard-rules.json');
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules: exprs.map((e, i) => ({ record: `dashboard:q${i}`, expr: expand(e.expr) })) }] }));
    const r = promtool(['check', 'rules', file], dir);
    assert.ok(r.ok, r.output);
    assert.match(r.output, new RegExp(`SUCCESS: ${exprs.length} rules found`));
  });

  it('every query selects only contract metrics, and every router metric has a panel', () => {
    const used = new Set<string>();
    for (const { panel, expr } of exprs) {
      const names = promqlMetricNames(expr);
      assert.ok(names.length > 0, `${panel}: ${expr} selects a metric`);
      for (const n of names) {
        assert.ok(isKnownSeries(n), `${panel}: ${n} is not a Switchboard metric`);
        used.add(baseMetric(n));
      }
    }
    for (const m of Object.keys(ROUTER_METRICS)) assert.ok(used.has(m), `no panel shows ${m}`);
    for (const m of ['registry_services', 'registry_probes_total', 'process_cpu_seconds_total', 'process_resident_memory_bytes', 'up']) assert.ok(used.has(m), `no panel shows ${m}`);
  });

  it('has the operator\'s panels: rate, errors, p50/p95, TTFT, tokens/s, in-flight, backends, ejections, retries, drops, per model and variant', () => {
    const text = exprs.map((e) => `${e.panel}\n${e.expr}`).join('\n');
    const want: [string, RegExp][] = [
      ['request rate by model', /sum by \(model\) \(rate\(router_requests_total/],
      ['requests by variant', /sum by \(model, variant\) \(rate\(router_requests_total/],
      ['error rate', /code=~"5\.\."/],
      ['p50 latency', /histogram_quantile\(0\.5, sum by \(model, le\) \(rate\(router_request_duration_seconds_bucket/],
      ['p95 latency', /histogram_quantile\(0\.95, sum by \(model, le\) \(rate\(router_request_duration_seconds_bucket/],
      ['TTFT', /histogram_quantile\(0\.95, sum by \(model, le\) \(rate\(router_ttft_seconds_bucket/],
      ['tokens/s', /rate\(router_tokens_total/],
      ['in flight', /router_inflight_requests/],
      ['backend up', /router_backend_up/],
      ['ejections', /router_backend_ejections_total/],
      ['retries', /router_retries_total/],
      ['rate-limit drops', /router_rate_limit_drops_total/],
    ];
    for (const [what, re] of want) assert.match(text, re, what);
    assert.ok(dashboard.panels.some((p) => p.type === 'row' && p.repeat === 'model'), 'a row repeated per model');
  });
});

describe('docs/operations.md, "Monitoring and alerts"', () => {
  const doc = readFileSync(join(packageRoot(), 'docs', 'operations.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Monitoring and alerts'));

  it('its PromQL examples are valid and use only contract metrics', (t) => {
    const queries = [...section.matchAll(/```promql\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')));
    assert.ok(queries.length >= 8);
    for (const q of queries) for (const n of promqlMetricNames(q)) assert.ok(isKnownSeries(n), `${q}: ${n}`);
    if (!requireTool(t, 'promtool')) return;
    const dir = scratch(t);
    writeFileSync(join(dir, 'doc-rules.json'), JSON.stringify({ groups: [{ name: 'doc', rules: queries.map((expr, i) => ({ record: `doc:q${i}`, expr })) }] }));
    const r = promtool(['check', 'rules', 'doc-rules.json'], dir);
    assert.ok(r.ok, r.output);
  });

  it('its alert table names every rule, with the rule\'s own expression where it quotes one', () => {
    for (const rule of rules) {
      const row = section.split('\n').find((l) => l.startsWith(`| \`${rule.alert}\``));
      assert.ok(row, `the table has ${rule.alert}`);
      const cells = row.split(/(?<!\\)\|/).map((c) => c.trim());
      const quoted = /^`(.*)`$/.exec(cells[2]!)?.[1]?.replace(/\\\|/g, '|');
      if (quoted !== undefined) assert.equal(quoted, rule.expr, `${rule.alert} expression in the docs`);
      assert.equal(cells[3], rule.for, `${rule.alert} for`);
      assert.equal(cells[4], rule.labels?.severity, `${rule.alert} severity`);
    }
  });

  it('its promtool commands run as written from the repository root', (t) => {
    if (!requireTool(t, 'promtool')) return;
    const commands = [...section.matchAll(/^promtool ([^\n#]+?)\s*(?:#.*)?$/gm)].map((m) => m[1]!.split(/\s+/));
    assert.equal(commands.length, 3);
    for (const args of commands) {
      const r = promtool(args, packageRoot());
      assert.ok(r.ok, `promtool ${args.join(' ')}:\n${r.output}`);
    }
  });
});
