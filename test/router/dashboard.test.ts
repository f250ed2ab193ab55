import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/index.js';
import { routerConfigSchema } from '../../src/router/config.js';
import type { DashboardData } from '../../src/router/dashboard.js';
import { RollingStats, type RequestSample } from '../../src/router/rolling-stats.js';
import { buildRouter } from '../../src/router/server.js';
import { launchChromium } from '../helpers/chromium.js';
import { requireTool } from '../helpers/services.js';
import { chat, spec, startBackend, startRouter } from './helpers.js';

const ok = (latencyMs = 100, extra: Partial<RequestSample> = {}): RequestSample => ({ status: 200, latencyMs, ttftMs: undefined, promptTokens: 0, completionTokens: 0, clientGone: false, ...extra });

describe('dashboard rolling stats', () => {
  it('rates cover the window: whole seconds before the current one plus the part of it gone', async () => {
    const clock = new ManualClock();
    const stats = new RollingStats(clock, { rateWindowS: 10, historyS: 30 });
    await clock.advance(60_000);
    for (let s = 0; s < 10; s++) {
      for (let i = 0; i < 5; i++) stats.record('m', ok(100, { status: i === 0 ? 500 : 200, completionTokens: 10, promptTokens: 4 }));
      await clock.advance(1000);
    }
    // now = 70.0 s: the window is seconds 61..70, 9 s long; second 60 has left it
    const [m] = stats.snapshot();
    assert.equal(m!.model, 'm');
    assert.equal(m!.rps, 45 / 9);
    assert.equal(m!.errors_per_s, 9 / 9);
    assert.equal(m!.error_rate, 0.2);
    assert.equal(m!.tokens_per_s, 450 / 9);
    assert.equal(m!.prompt_tokens_per_s, 180 / 9);
    assert.deepEqual(m!.totals, { requests: 50, errors: 10, client_aborts: 0, prompt_tokens: 200, completion_tokens: 500 });
    // half-way through the next second the window holds 9.5 s
    await clock.advance(500);
    assert.equal(stats.snapshot()[0]!.rps, round(45 / 9.5));
  });

  it('rates are right from the first second (never divided by time before the stats existed)', async () => {
    const clock = new ManualClock();
    const stats = new RollingStats(clock);
    for (let i = 0; i < 3; i++) stats.record('m', ok());
    await clock.advance(200);
    assert.equal(stats.snapshot()[0]!.rps, 3, 'under a second: counted over one second');
    await clock.advance(1800);
    assert.equal(stats.snapshot()[0]!.rps, 1.5);
  });

  it('traffic leaves the rate and percentile windows; totals and the series keep it', async () => {
    const clock = new ManualClock();
    const stats = new RollingStats(clock, { rateWindowS: 10, percentileWindowS: 60, historyS: 120 });
    stats.record('m', ok(40, { ttftMs: 10 }));
    await clock.advance(11_000);
    let m = stats.snapshot()[0]!;
    assert.equal(m.rps, 0);
    assert.equal(m.error_rate, null);
    assert.equal(m.latency_ms?.count, 1);
    await clock.advance(50_000);
    m = stats.snapshot()[0]!;
    assert.equal(m.latency_ms, null);
    assert.equal(m.ttft_ms, null);
    assert.equal(m.totals.requests, 1);
    assert.equal(m.rps_series.reduce((a, b) => a + b, 0), 1);
  });

  it('latency and TTFT percentiles within 5% over the percentile window', async () => {
    const clock = new ManualClock();
    const stats = new RollingStats(clock);
    // 1..1000 ms spread over 50 seconds; TTFT (streamed ones only) a tenth of that
    for (let i = 1; i <= 1000; i++) {
      stats.record('m', ok(i, i % 2 === 0 ? { ttftMs: i / 10 } : {}));
      if (i % 20 === 0) await clock.advance(1000);
    }
    const m = stats.snapshot()[0]!;
    assert.equal(m.latency_ms!.count, 1000);
    assert.equal(m.ttft_ms!.count, 500);
    const near = (got: number, want: number, what: string): void => assert.ok(Math.abs(got - want) / want <= 0.05, `${what}: ${got} vs ${want}`);
    near(m.latency_ms!.p50, 500, 'latency p50');
    near(m.latency_ms!.p95, 950, 'latency p95');
    near(m.ttft_ms!.p50, 50, 'ttft p50');
    near(m.ttft_ms!.p95, 95, 'ttft p95');
    // a slow minute later only the new, slow requests count
    await clock.advance(60_000);
    for (let i = 0; i < 10; i++) stats.record('m', ok(30_000));
    const later = stats.snapshot()[0]!;
    assert.equal(later.latency_ms!.count, 10);
    near(later.latency_ms!.p50, 30_000, 'latency p50 later');
  });

  it('5xx and no answer are errors; 4xx are not; a client that left is neither an error nor a latency sample', () => {
    const clock = new ManualClock();
    const stats = new RollingStats(clock);
    stats.record('m', ok(10, { status: 503 }));
    stats.record('m', ok(10, { status: 0 }));
    stats.record('m', ok(10, { status: 404 }));
    stats.record('m', ok(10, { status: 429 }));
    stats.record('m', ok(99_000, { status: 0, clientGone: true }));
    const m = stats.snapshot()[0]!;
    assert.equal(m.totals.requests, 5);
    assert.equal(m.totals.errors, 2);
    assert.equal(m.totals.client_aborts, 1);
    assert.equal(m.error_rate, 0.4);
    assert.equal(m.latency_ms!.count, 4);
    assert.ok(m.latency_ms!.p95 < 20);
  });

  it('the per-second series: whole seconds only, oldest first, slots recycled after a full turn', async () => {
    const clock = new ManualClock();
    const stats = new RollingStats(clock, { rateWindowS: 5, historyS: 10 });
    for (let s = 0; s < 4; s++) {
      for (let i = 0; i <= s; i++) stats.record('m', ok());
      await clock.advance(1000);
    }
    stats.record('m', ok()); // the current second: not in the series yet
    let m = stats.snapshot()[0]!;
    assert.equal(m.rps_series.length, 10);
    assert.deepEqual(m.rps_series, [0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    // ten seconds on, second 4's slot is reused for second 14 and old counts are gone
    await clock.advance(10_000);
    stats.record('m', ok());
    await clock.advance(1000);
    m = stats.snapshot()[0]!;
    assert.deepEqual(m.rps_series, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert.equal(m.totals.requests, 12);
  });

  it('served models show with zeros; a model idle for the whole history and no longer served is forgotten', async () => {
    const clock = new ManualClock();
    const stats = new RollingStats(clock, { historyS: 30 });
    stats.record('old', ok());
    let rows = stats.snapshot(['served']);
    assert.deepEqual(rows.map((r) => r.model), ['old', 'served']);
    assert.equal(rows[1]!.rps, 0);
    assert.equal(rows[1]!.latency_ms, null);
    await clock.advance(29_000);
    assert.deepEqual(stats.snapshot().map((r) => r.model), ['old']);
    await clock.advance(1_000);
    assert.deepEqual(stats.snapshot(['old']).map((r) => r.model), ['old'], 'still served: kept');
    rows = stats.snapshot();
    assert.deepEqual(rows, []);
    assert.deepEqual(stats.models(), []);
  });
});

describe('dashboard endpoints', () => {
  it('serves the page and its assets, self-contained, and the data behind the admin token', async (t) => {
    const b1 = await startBackend(t, 'b1');
    const b2 = await startBackend(t, 'b2');
    const router = await startRouter(t, { adminToken: 'dash-token' }, [spec(b1, ['m1']), spec(b2, ['m1'])]);

    const page = await fetch(`${router.url}/dashboard`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /^text\/html/);
    assert.match(page.headers.get('content-security-policy')!, /default-src 'none'; script-src 'self'/);
    const html = await page.text();
    assert.match(html, /<script src="dashboard\/app\.js"/);
    assert.doesNotMatch(html, /https?:\/\//, 'nothing loaded from elsewhere');
    for (const [path, type] of [['/dashboard/app.js', 'text/javascript'], ['/dashboard/style.css', 'text/css']] as const) {
      const r = await fetch(`${router.url}${path}`);
      assert.equal(r.status, 200, path);
      assert.match(r.headers.get('content-type')!, new RegExp(`^${type}`));
      assert.doesNotMatch(await r.text(), /https?:\/\//, `${path} loads nothing from elsewhere`);
    }
    const slash = await fetch(`${router.url}/dashboard/`, { redirect: 'manual' });
    assert.equal(slash.status, 308);
    assert.equal(slash.headers.get('location'), '../dashboard');

    const denied = await fetch(`${router.url}/dashboard/data`);
    assert.equal(denied.status, 401);
    assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'SB_ERR_UNAUTHORIZED');

    for (let i = 0; i < 6; i++) assert.equal((await chat(router.url, { model: 'm1', stream: i % 2 === 0 })).status, 200);
    const r = await fetch(`${router.url}/dashboard/data`, { headers: { authorization: 'Bearer dash-token' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const d = (await r.json()) as DashboardData;
    assert.deepEqual(d.services.map((s) => [s.name, s.state, s.routable, s.request_count]), [['b1', 'up', true, 3], ['b2', 'up', true, 3]]);
    assert.equal(d.readiness.status, 'ok');
    const m1 = d.models.find((m) => m.model === 'm1')!;
    assert.equal(m1.totals.requests, 6);
    assert.ok(m1.rps > 0);
    assert.equal(m1.error_rate, 0);
    assert.equal(m1.latency_ms!.count, 6);
    assert.equal(m1.ttft_ms!.count, 3, 'TTFT from the streamed requests only');
    assert.ok(m1.tokens_per_s > 0);
    assert.deepEqual(d.windows, { rate_s: 10, percentile_s: 60, history_s: 300 });
  });
});

describe('dashboard in headless Chromium', () => {
  it('shows the fleet, the traffic, and a backend going down with its failover', async (t) => {
    if (!requireTool(t, 'chromium')) return;
    const b1 = await startBackend(t, 'b1');
    const b2 = await startBackend(t, 'b2');
    // built here rather than with startRouter: the test stops the router itself at the end
    const config = routerConfigSchema.parse({ port: 0, healthIntervalMs: 3_600_000, adminToken: 'dash-token', passiveHealth: { maxFails: 1, failTimeoutMs: 120_000 } });
    const router = await buildRouter(config);
    for (const s of [spec(b1, ['m1']), spec(b2, ['m1'])]) router.table.upsert({ ...s, metadata: { health_check: false, ...s.metadata } });
    let routerClosed = false;
    const stopRouter = async (): Promise<void> => {
      if (routerClosed) return;
      routerClosed = true;
      await router.close();
    };
    t.after(stopRouter);
    await router.listen();

    const { page } = await launchChromium(t);
    const rows = `[...document.querySelectorAll('#services tbody tr')].map((tr) => tr.dataset.service + '=' + tr.dataset.state).join(',')`;

    // without the token the page asks for it; what is typed is used
    await page.navigate(`${router.url}/dashboard`);
    await page.waitFor(`!document.getElementById('token-form').hidden`, 'the token form');
    await page.evaluate(`(() => { document.getElementById('token-input').value = 'dash-token'; document.getElementById('token-form').requestSubmit(); return true; })()`);
    assert.equal(await page.waitFor<string>(`${rows} === 'b1=up,b2=up' && ${rows}`, 'both backends up after typing the token'), 'b1=up,b2=up');
    page.errors.length = 0; // the 401 before the token was typed is logged as a failed load

    // ?token= works too, and leaves the address bar
    await page.navigate(`${router.url}/dashboard?token=dash-token`);
    assert.equal(await page.waitFor<string>(`${rows} === 'b1=up,b2=up' && ${rows}`, 'both backends up'), 'b1=up,b2=up');
    assert.equal(await page.evaluate<string>('location.search'), '');
    assert.equal(await page.evaluate<string>(`document.getElementById('readiness').dataset.status`), 'ok');

    // traffic shows as the model's request rate, and streamed requests give a TTFT
    for (let i = 0; i < 10; i++) assert.equal((await chat(router.url, { model: 'm1', stream: i % 2 === 0 })).status, 200);
    const card = `document.querySelector('.card[data-model="m1"]')`;
    const rps = await page.waitFor<number>(`(() => { const v = Number(${card}?.querySelector('[data-field=rps]').textContent); return v > 0 && v; })()`, 'a request rate above 0 for m1');
    assert.ok(rps > 0);
    assert.notEqual(await page.evaluate<string>(`${card}.querySelector('[data-field=ttft]').textContent`), '–');
    assert.match(await page.evaluate<string>(`${card}.querySelector('[data-field=total]').textContent`), /^10\b/);
    assert.equal(await page.evaluate<boolean>(`${card}.querySelector('canvas').width > 0`), true);
    assert.equal(await page.evaluate<string>(`document.getElementById('events').children.length + ''`), '0');

    // b2 goes away: the next request that picks it fails over to b1 and b2 is ejected
    await b2.close();
    for (let i = 0; i < 4; i++) assert.equal((await chat(router.url, { model: 'm1' })).status, 200);
    assert.equal(await page.waitFor<string>(`${rows} === 'b1=up,b2=ejected' && ${rows}`, 'b2 shown ejected', 15_000), 'b1=up,b2=ejected');
    const failover = await page.waitFor<string>(`document.querySelector('#events li[data-type=failover]')?.textContent`, 'a failover listed');
    assert.match(failover, /failover\s*b1/);
    assert.match(failover, /after b2 failed/);
    assert.ok(await page.evaluate<boolean>(`!!document.querySelector('#events li[data-type=ejection][data-backend=b2]')`), 'the ejection listed');
    assert.equal(await page.evaluate<string>(`document.getElementById('readiness').dataset.status`), 'degraded');
    assert.match(await page.evaluate<string>(`document.getElementById('readiness-reasons').textContent`), /model m1: 1 of 2 backends down/);

    const shot = await page.screenshot(join(tmpdir(), 'switchboard-dashboard.png'));
    t.diagnostic(`screenshot: ${shot}`);

    // nothing failed in the page and nothing was fetched from anywhere but the router
    assert.deepEqual(page.errors, []);
    const foreign = page.requests.filter((u) => !u.startsWith(`${router.url}/`));
    assert.deepEqual(foreign, []);

    // the router goes away: the page says so instead of showing stale numbers as live
    await stopRouter();
    await page.waitFor(`!document.getElementById('unreachable').hidden`, '"router unreachable" shown', 10_000);
    assert.match(await page.evaluate<string>(`document.getElementById('unreachable').textContent`), /router unreachable/);
  });
});

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
