// From a `--usage-db` value to a sink: PostgreSQL for postgres:// URLs, SQLite otherwise
// (`sqlite:<file>` or a file path, relative to the working directory; or nothing: `usage.db` in
// the data directory).
import { resolve } from 'node:path';
import { sbError, type Logger } from '../../core/index.js';
import { PostgresSink } from './postgres.js';
import type { UsageSink } from './sink.js';
import { SqliteSink } from './sqlite.js';

export const SQLITE_FILE = 'usage.db';

export interface OpenSinkOptions {
  url?: string | undefined;
  /** Where the default SQLite file lives (required when url is not given). */
  dataDir?: string | undefined;
  /** false: read-only use (the report): never create a database or migrate it. */
  migrate?: boolean;
  logger?: Logger | undefined;
}

export function openUsageSink(opts: OpenSinkOptions): UsageSink {
  const url = opts.url?.trim();
  const migrate = opts.migrate ?? true;
  if (url && /^postgres(ql)?:\/\//i.test(url)) {
    return new PostgresSink({ url, migrate, ...(opts.logger ? { logger: opts.logger } : {}) });
  }
  if (url && /^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !/^(sqlite|file):/i.test(url)) {
    throw sbError('SB_ERR_USAGE_DB', url.replace(/\/\/[^@/]*@/, '//***@'), 'expected postgres://…, sqlite:<file> or a file path');
  }
  let file: string;
  if (url) {
    const path = url.replace(/^(sqlite|file):(\/\/)?/i, '');
    if (path === '' || path === 'sqlite') throw sbError('SB_ERR_USAGE_DB', url, 'no file name given');
    file = resolve(path);
  } else {
    if (!opts.dataDir) throw sbError('SB_ERR_USAGE_DB', '(none)', 'give a postgres:// URL, a SQLite file, or a data directory');
    file = resolve(opts.dataDir, SQLITE_FILE);
  }
  return new SqliteSink({ file, migrate });
}
