// Real Redis and PostgreSQL for the tests that are about them. Locally a test skips when the
// server is not there; with CI (or SWITCHBOARD_REQUIRE_SERVICES) set it fails instead, so a CI
// run can never pass by skipping them.
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { connect } from 'node:net';
import type { TestContext } from 'node:test';
import pg from 'pg';

export const REDIS_URL = process.env.SWITCHBOARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const POSTGRES_URL = process.env.SWITCHBOARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function servicesRequired(): boolean {
  return Boolean(process.env.CI) || process.env.SWITCHBOARD_REQUIRE_SERVICES === '1';
}

function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  const port = Number(u.port) || (u.protocol.startsWith('redis') ? 6379 : 5432);
  return new Promise((resolve) => {
    const s = connect({ host: u.hostname, port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

async function requireService(t: TestContext, what: string, url: string): Promise<boolean> {
  if (await reachable(url)) return true;
  const msg = `${what} not reachable at ${url}`;
  if (servicesRequired()) throw new Error(`${msg}, and CI requires it (tests must not skip)`);
  t.skip(msg);
  return false;
}

/** True when Redis is up; otherwise skips the test (or fails it in CI). */
export function requireRedis(t: TestContext): Promise<boolean> {
  return requireService(t, 'Redis', REDIS_URL);
}

/** True when PostgreSQL is up; otherwise skips the test (or fails it in CI). */
export function requirePostgres(t: TestContext): Promise<boolean> {
  return requireService(t, 'PostgreSQL', POSTGRES_URL);
}

/** A key prefix / schema name unique to one test, so parallel tests never share state. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/** True when an external program (nginx, promtool, chromium) is installed; like requireRedis. */
export function requireTool(t: TestContext, tool: string): boolean {
  const paths = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin']);
  for (const p of paths) {
    try {
      accessSync(`${p}/${tool}`, constants.X_OK);
      return true;
    } catch {
      // keep looking
    }
  }
  const msg = `${tool} is not installed (.ci/run installs it)`;
  if (servicesRequired()) throw new Error(`${msg}, and CI requires it (tests must not skip)`);
  t.skip(msg);
  return false;
}

/** The absolute path of a program found by requireTool. */
export function toolPath(tool: string): string {
  const paths = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin']);
  for (const p of paths) {
    try {
      accessSync(`${p}/${tool}`, constants.X_OK);
      return `${p}/${tool}`;
    } catch {
      // keep looking
    }
  }
  throw new Error(`${tool} not found`);
}

/** A schema of its own for one test, dropped when it ends. */
export async function pgSchema(t: TestContext): Promise<string | undefined> {
  if (!(await requirePostgres(t))) return undefined;
  const schema = uniqueName('sbtest_usage');
  t.after(async () => {
    const c = new pg.Client({ connectionString: POSTGRES_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  });
  return schema;
}
