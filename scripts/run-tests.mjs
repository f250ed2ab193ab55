#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node:test. Arguments filter by
// substring: `node scripts/run-tests.mjs registry` runs only tests whose path contains it.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dir = join(root, 'dist', 'test');
const files = [];
(function walk(d) {
  for (const name of readdirSync(d)) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
})(dir);
const filters = process.argv.slice(2);
const selected = files.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
if (selected.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// Test files mostly wait on sockets and child processes, so they run a few at a time even on
// two cores; each file is its own process. --test-timeout bounds each test and also each file as
// a whole: the operations-guide file runs ~50 s alone and over two minutes beside two others on a
// busy machine, so the bound is five minutes (a hung test still fails, later).
const concurrency = process.env.TEST_CONCURRENCY ?? '3';
const r = spawnSync(process.execPath, ['--enable-source-maps', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...selected], {
  stdio: 'inherit',
  env: { ...process.env, SWITCHBOARD_LOG_LEVEL: process.env.SWITCHBOARD_LOG_LEVEL ?? 'silent' },
});
process.exit(r.status ?? 1);
