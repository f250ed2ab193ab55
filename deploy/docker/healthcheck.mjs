#!/usr/bin/env node
// Container health check without curl (node:20-slim has none): GET a URL, exit 0 on a 2xx within
// the timeout, 1 otherwise. Usage: healthcheck.mjs [url]; the default comes from
// SWITCHBOARD_HEALTH_URL, else the router's liveness endpoint.
import { request } from 'node:http';

const url = process.argv[2] ?? process.env.SWITCHBOARD_HEALTH_URL ?? 'http://127.0.0.1:8080/health/live';
const timeoutMs = Number(process.env.SWITCHBOARD_HEALTH_TIMEOUT_MS ?? 2000);

const req = request(url, { method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
  res.resume();
  const ok = res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300;
  if (!ok) process.stderr.write(`healthcheck: ${url} answered ${res.statusCode}\n`);
  process.exitCode = ok ? 0 : 1;
});
req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
req.on('error', (err) => {
  process.stderr.write(`healthcheck: ${url}: ${err.message}\n`);
  process.exitCode = 1;
});
req.end();
