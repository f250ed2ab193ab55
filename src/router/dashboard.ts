// The operator's dashboard, served by the router itself: GET /dashboard is a static page (HTML,
// script and stylesheet from assets/dashboard, no framework, nothing fetched from elsewhere, so it
// works on an air-gapped host) that polls GET /dashboard/data every second. The data endpoint
// shows what /services shows, so it needs the admin token when one is configured; the page itself
// holds no data and is open.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { assetPath, sbError, sendJson, type Clock } from '../core/index.js';
import type { Backend } from './backend.js';
import type { Exchange } from './exchange.js';
import { sendOpenAIError } from './reply.js';
import { RollingStats, type ModelStats, type RollingOptions } from './rolling-stats.js';
import type { Router } from './server.js';

export interface DashboardOptions extends RollingOptions {
  /** Recent events (failovers, ejections, ...) listed. */
  eventLimit?: number;
}

export interface ServiceRow {
  name: string;
  url: string;
  state: string;
  routable: boolean;
  models: readonly string[];
  in_flight: number;
  load: Backend['load'] | null;
  request_count: number;
  error_count: number;
  response_time_ms: number;
  ejections: number;
  weight: number;
  priority: number;
  static: boolean;
}

export interface DashboardData {
  time: string;
  uptime_s: number;
  windows: { rate_s: number; percentile_s: number; history_s: number };
  readiness: { status: string; reasons: string[] };
  services: ServiceRow[];
  models: ModelStats[];
  events: ReturnType<Router['events']['recent']>;
}

export interface Dashboard {
  readonly stats: RollingStats;
  data(): DashboardData;
}

interface Asset {
  body: Buffer;
  type: string;
}

// The page only talks to its own origin; nothing inline, nothing from a CDN.
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

function loadAsset(file: string, type: string): Asset {
  return { body: readFileSync(assetPath('dashboard', file)), type };
}

function sendAsset(res: ServerResponse, a: Asset): void {
  // no-cache (revalidate, here: refetch) so a router upgrade never runs an old script against new data
  res.writeHead(200, { 'content-type': a.type, 'content-length': a.body.length, 'cache-control': 'no-cache', ...SECURITY_HEADERS });
  res.end(a.body);
}

export function mountDashboard(router: Router, clock: Clock, opts: DashboardOptions = {}): Dashboard {
  const stats = new RollingStats(clock, opts);
  const startMono = clock.monotonic();
  const eventLimit = opts.eventLimit ?? 50;
  router.events.onRequest((ex: Exchange) => {
    stats.record(ex.modelLabel, {
      status: ex.status,
      latencyMs: clock.monotonic() - ex.startMono,
      ttftMs: ex.ttftMs,
      promptTokens: ex.promptTokens,
      completionTokens: ex.completionTokens,
      clientGone: ex.clientGone,
    });
  });

  const data = (): DashboardData => {
    const readiness = router.admin.readiness();
    const services: ServiceRow[] = [...router.table.backends.values()]
      .map((b) => ({
        name: b.name,
        url: b.url,
        state: router.admin.stateOf(b),
        routable: b.up && b.passive.routable,
        models: b.models,
        in_flight: b.inFlight,
        load: b.load ?? null,
        request_count: b.requestCount,
        error_count: b.errorCount,
        response_time_ms: Math.round(b.responseTime * 1e6) / 1e3,
        ejections: b.passive.ejections,
        weight: b.weight,
        priority: b.priority,
        static: b.isStatic,
      }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return {
      time: new Date(clock.now()).toISOString(),
      uptime_s: Math.round((clock.monotonic() - startMono) / 1000),
      windows: { rate_s: stats.rateWindowS, percentile_s: stats.percentileWindowS, history_s: stats.historyS },
      readiness: { status: readiness.status, reasons: readiness.reasons },
      services,
      models: stats.snapshot(router.table.models()),
      events: router.events.recent(eventLimit),
    };
  };

  // read once at start: a missing asset is an install problem worth failing on at once
  const html = loadAsset('index.html', 'text/html; charset=utf-8');
  const js = loadAsset('app.js', 'text/javascript; charset=utf-8');
  const css = loadAsset('style.css', 'text/css; charset=utf-8');
  // The page's links are relative ("dashboard/app.js"), so it also works behind a path prefix.
  router.routes.set('GET /dashboard', (_req, res) => sendAsset(res, html));
  router.routes.set('GET /dashboard/', (_req, res) => {
    res.writeHead(308, { location: '../dashboard', 'content-length': 0 });
    res.end();
  });
  router.routes.set('GET /dashboard/app.js', (_req, res) => sendAsset(res, js));
  router.routes.set('GET /dashboard/style.css', (_req, res) => sendAsset(res, css));
  router.routes.set('GET /dashboard/data', (req: IncomingMessage, res: ServerResponse) => {
    if (!router.adminAllowed(req)) {
      sendOpenAIError(res, sbError('SB_ERR_UNAUTHORIZED', 'The dashboard data needs the admin token (Authorization: Bearer <token>)'));
      return;
    }
    sendJson(res, 200, data(), { 'cache-control': 'no-store' });
  });
  return { stats, data };
}
