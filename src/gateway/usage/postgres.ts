// The shared sink: PostgreSQL (`--usage-db postgres://user:pass@host/db`), for several routers
// and for dashboards that query usage with SQL. `?schema=name` in the URL puts the tables in
// that schema (created if missing) through the connection's search_path. Timeouts are short
// so an unreachable or hung server sends rows to the spool within seconds instead of holding
// them in memory; a timed-out COMMIT that did land is harmless (rows are keyed by uid).
import pg from 'pg';
import { describeError, isSwitchboardError, sbError, sbErrorFrom, silentLogger, type Logger } from '../../core/index.js';
import { MIGRATIONS_COMPONENT, MIGRATIONS_TABLE_SQL, pending, USAGE_MIGRATIONS, type Migration } from './migrations.js';
import { mergeReport, reportSql } from './report-sql.js';
import { fromSqlRow, rowValues, USAGE_COLUMNS, type StoredUsageRow, type UsageSqlRow } from './row.js';
import type { UsageQuery, UsageRange, UsageReportRow, UsageSink } from './sink.js';

export interface PostgresSinkOptions {
  url: string;
  /** Schema for the tables (overrides `?schema=` in the URL). */
  schema?: string;
  /** false: only read (the report); never create or migrate. */
  migrate?: boolean;
  migrations?: readonly Migration[];
  connectTimeoutMs?: number;
  queryTimeoutMs?: number;
  logger?: Logger;
}

// pg_advisory_xact_lock key serializing migrations across routers starting at once.
const MIGRATION_LOCK = 0x5b_75_73_61; // "[usa"
// 65535 bind parameters per statement at most; 1000 rows x 13 columns stays well below.
const CHUNK = 1000;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** The URL without its password, for logs and errors. */
export function redactDbUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[invalid url]';
  }
}

function splitSchema(url: string, schema: string | undefined): { url: string; schema: string | undefined } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw sbError('SB_ERR_USAGE_DB', '[invalid url]', 'not a valid postgres:// URL');
  }
  const fromUrl = u.searchParams.get('schema') ?? undefined;
  u.searchParams.delete('schema');
  const s = schema ?? fromUrl;
  if (s !== undefined && !IDENT.test(s)) throw sbError('SB_ERR_USAGE_DB', redactDbUrl(url), `schema '${s}' is not a plain identifier (letters, digits, _)`);
  return { url: u.toString(), schema: s };
}

const insertCache = new Map<number, string>();
function insertSql(rows: number): string {
  let sql = insertCache.get(rows);
  if (!sql) {
    const w = USAGE_COLUMNS.length;
    const tuples = Array.from({ length: rows }, (_, r) => `(${USAGE_COLUMNS.map((_c, c) => `$${r * w + c + 1}`).join(', ')})`);
    sql = `INSERT INTO usage_records (${USAGE_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')} ON CONFLICT (uid) DO NOTHING`;
    if (insertCache.size < 64) insertCache.set(rows, sql);
  }
  return sql;
}

const toDate = (ms: number): Date => new Date(ms);

export class PostgresSink implements UsageSink {
  readonly kind = 'postgres';
  readonly target: string;
  readonly #opts: PostgresSinkOptions;
  readonly #url: string;
  readonly #schema: string | undefined;
  readonly #log: Logger;
  #pool: pg.Pool | undefined;
  #ready = false;

  constructor(opts: PostgresSinkOptions) {
    this.#opts = opts;
    const { url, schema } = splitSchema(opts.url, opts.schema);
    this.#url = url;
    this.#schema = schema;
    this.#log = opts.logger ?? silentLogger;
    this.target = redactDbUrl(url) + (schema ? ` (schema ${schema})` : '');
  }

  #getPool(): pg.Pool {
    if (!this.#pool) {
      const timeout = this.#opts.queryTimeoutMs ?? 15_000;
      this.#pool = new pg.Pool({
        connectionString: this.#url,
        max: 2,
        connectionTimeoutMillis: this.#opts.connectTimeoutMs ?? 5000,
        query_timeout: timeout,
        statement_timeout: timeout,
        idleTimeoutMillis: 30_000,
        keepAlive: true,
        ...(this.#schema ? { options: `-c search_path=${this.#schema}` } : {}),
      });
      // an idle connection that dies (server restart) must not crash the process
      this.#pool.on('error', (err) => this.#log.warn({ err: describeError(err), sink: this.target }, 'usage database connection lost'));
    }
    return this.#pool;
  }

  #wrap(err: unknown): Error {
    return isSwitchboardError(err) ? err : sbErrorFrom(err, 'SB_ERR_USAGE_DB', this.target, describeError(err));
  }

  async #tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.#getPool().connect();
    } catch (err) {
      throw this.#wrap(err);
    }
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      client.release();
      return out;
    } catch (err) {
      // the connection's state is unknown after a failed statement or COMMIT: discard it
      client.release(err instanceof Error ? err : true);
      throw this.#wrap(err);
    }
  }

  async open(): Promise<void> {
    if (this.#ready) return;
    if (this.#opts.migrate === false) {
      const r = await this.#getPool().query<{ t: string | null }>("SELECT to_regclass('usage_records')::text AS t").catch((err: unknown) => {
        throw this.#wrap(err);
      });
      if (!r.rows[0]?.t) throw sbError('SB_ERR_USAGE_DB', this.target, 'this database has no usage_records table');
    } else {
      await this.#tx(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        if (this.#schema) await c.query(`CREATE SCHEMA IF NOT EXISTS "${this.#schema}"`);
        await c.query(MIGRATIONS_TABLE_SQL.postgres);
        const done = await c.query<{ version: number }>('SELECT version FROM schema_migrations WHERE component = $1', [MIGRATIONS_COMPONENT]);
        for (const m of pending(this.#opts.migrations ?? USAGE_MIGRATIONS, new Set(done.rows.map((r) => r.version)))) {
          for (const sql of m.postgres) await c.query(sql);
          await c.query('INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)', [MIGRATIONS_COMPONENT, m.version, m.name]);
          this.#log.info({ sink: this.target, version: m.version, name: m.name }, 'usage database migrated');
        }
      });
    }
    this.#ready = true;
  }

  write(rows: readonly StoredUsageRow[]): Promise<number> {
    if (rows.length === 0) return Promise.resolve(0);
    return this.#tx(async (c) => {
      let n = 0;
      for (let i = 0; i < rows.length; i += CHUNK) {
        const part = rows.slice(i, i + CHUNK);
        const r = await c.query(insertSql(part.length), part.flatMap((row) => rowValues(row, toDate)));
        n += r.rowCount ?? 0;
      }
      return n;
    });
  }

  async read(range: UsageRange, limit = 1_000_000): Promise<StoredUsageRow[]> {
    try {
      const r = await this.#getPool().query(
        `SELECT ${USAGE_COLUMNS.join(', ')} FROM usage_records WHERE ts >= $1 AND ts < $2 ORDER BY ts, uid LIMIT $3`,
        [toDate(range.sinceMs), toDate(range.untilMs), limit],
      );
      return (r.rows as UsageSqlRow[]).map((row) => fromSqlRow(row, (row.ts as Date).getTime()));
    } catch (err) {
      throw this.#wrap(err);
    }
  }

  async prune(beforeMs: number, limit: number): Promise<number> {
    try {
      // the ts index finds the oldest rows; the primary key deletes them
      const r = await this.#getPool().query(
        'DELETE FROM usage_records WHERE uid IN (SELECT uid FROM usage_records WHERE ts < $1 ORDER BY ts LIMIT $2)',
        [toDate(beforeMs), limit],
      );
      return r.rowCount ?? 0;
    } catch (err) {
      throw this.#wrap(err);
    }
  }

  async report(q: UsageQuery): Promise<UsageReportRow[]> {
    const sql = reportSql('postgres', q.by);
    const params = [toDate(q.sinceMs), toDate(q.untilMs)];
    try {
      const pool = this.#getPool();
      const [t, d, f] = await Promise.all([pool.query(sql.totals, params), pool.query(sql.duration, params), pool.query(sql.ttft, params)]);
      return mergeReport(q.by, t.rows as Record<string, unknown>[], d.rows as Record<string, unknown>[], f.rows as Record<string, unknown>[]);
    } catch (err) {
      throw this.#wrap(err);
    }
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    this.#ready = false;
    if (pool) await pool.end();
  }
}
